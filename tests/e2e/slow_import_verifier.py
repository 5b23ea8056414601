"""A user verifier whose module takes longer to import than the reward deadline of its test."""

import time

time.sleep(4.0)


def score(prediction, reference):
    return 1.0
