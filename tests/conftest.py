"""Test-wide settings."""
import os
import tempfile

# Every reopened database plans its views again and compares with the plans stored in the file
# (ivm/store/plan_cache.py): a stored plan that differs fails the test that opened it.
os.environ.setdefault("IVM_PLAN_CACHE", "check")
# The key that signs stored plans (ivm/store/signing.py): one per test process, not the user's own.
os.environ.setdefault("IVM_KEY_FILE", os.path.join(tempfile.mkdtemp(prefix="ivm-test-key-"), "plan-cache.key"))
