"""Thin runners feeding the event pipeline: a recorded file (`file_runner`)."""
