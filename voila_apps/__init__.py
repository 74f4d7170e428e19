"""voila_apps"""
