"""Privacy-safe depth-only action recognition for ROS 2 (see README.md and design notes)."""

__version__ = '0.1.0'
