"""A module that takes 2 s to import: a kernel template still importing, in tests."""

import time

time.sleep(2.0)
