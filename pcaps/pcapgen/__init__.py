"""pcapgen: makes the capture suite in pcaps/ (run it as `pcaps/generate`)."""
