"""gsp_extension"""
