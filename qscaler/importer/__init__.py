"""`qscaler import`: turn another autoscaler's configuration into qscaler bindings.

Today one importer: KEDA ScaledObjects with `rabbitmq` triggers
(`qscaler.importer.keda_cli`). Importers only read what the user hands them
and print; they never talk to a cluster or a broker.
"""
