"""The desktop app (`greymaster-app`): Qt widgets over the session, the model and the player.

No DSP math lives here: curves and meters come from ``model`` and ``greymaster_app.playback``.
"""
