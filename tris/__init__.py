"""TRIS: event-sourced records of trisectoral agreements."""
