"""The sandbox's screens, one router per area."""
