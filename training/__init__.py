"""Training of the mastering model (corpus, degradations, losses, loop, evaluation)."""
