"""xfer.verification"""
