"""Data for environment models: level splits, transition collection, shards and sampling."""
