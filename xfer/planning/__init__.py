"""xfer.planning"""
