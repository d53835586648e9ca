"""Offline half of depth_action_recognition: teachers, distillation into depth students, evaluation, export."""
