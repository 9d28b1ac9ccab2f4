"""Data for environment models: level splits, transition collection, shards and sampling.

This folder also holds the pretrained models shipped with reverie (``models/*.pt``).
"""
