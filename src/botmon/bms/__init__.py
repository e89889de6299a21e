"""The original BMS storage API (gRPC), so monitors written for BMS report to botmon unchanged.

``bms_storage.proto`` is botmon's own definition of the wire contract; the ``*_pb2*`` modules
beside it are generated from it by :mod:`botmon.bms.generate`.
"""
