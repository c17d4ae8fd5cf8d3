"""Audio analysis: diarization, transcription, speech emotion and prosody."""
