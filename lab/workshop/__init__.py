"""Training workshops: guided exercises on a lab, and a room of labs, one per student."""
