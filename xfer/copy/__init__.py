"""xfer.copy"""
