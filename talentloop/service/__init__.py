"""The production service: what runs in a deployment.

Configuration, the Kafka -> Temporal bridge, the worker, the Kafka and Temporal clients,
CloudEvents decoding, publishing, deployment setup and checks.
"""
