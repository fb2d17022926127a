"""Gcore's Everywhere Inference API: our thin httpx client, its typed errors, and the models of its data."""
