"""Runners feeding the event pipeline: the live AMI connection (`ami_runner`), a recorded
file (`file_runner`)."""
