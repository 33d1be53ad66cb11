"""xfer.runs"""
