"""xfer.report"""
