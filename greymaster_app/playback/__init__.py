"""Qt-free live playback: the chain in real time, A/B, meters."""
