"""The voice engine: telephone audio, end-pointing, and offline recognition in worker processes.

Stages in one direction: audio -> endpoint -> recognizer (Vosk or fake) -> pool -> listen.
Nothing here imports `gateway`; word lists arrive as plain data.
"""
