"""The chain's DSP stages, each with a torch face, a whole-track renderer and a streamer."""
