"""govpulse: real-time stream processing and alerting for a city's execution-governance system."""

__version__ = "0.1.0"
