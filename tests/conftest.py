"""Test-wide settings."""
import os

# Every reopened database plans its views again and compares with the plans stored in the file
# (ivm/store/plan_cache.py): a stored plan that differs fails the test that opened it.
os.environ.setdefault("IVM_PLAN_CACHE", "check")
