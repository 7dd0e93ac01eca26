"""Simulation of patients and sequencing trials, and the survival statistics they are judged by."""
