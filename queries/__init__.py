"""Detections and investigative queries over the exposure graph."""
