"""Tests for the benchmark helpers in bench/."""
