"""Accounts: what a signed-in person manages for themselves.

Owns: named API tokens (create one, shown once; list with last use; revoke;
authenticate a key). Only a token's SHA-256 is stored, so a leaked database
leaks no usable key.
May import: ``classification.models``; never TensorFlow.
"""
