"""Visual analysis: face, expression, head pose, gaze, blinks, movement, attributes."""
