"""GreyMaster's headless core: parameter table, DSP stages, chain, metering and file I/O.

Never imports Qt or sounddevice.
"""
