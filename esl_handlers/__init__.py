"""ESL (FreeSWITCH) and AMI (Asterisk) listeners: pure normalisers plus thin supervised connections.

Keep this package import light: the FreeSWITCH listener process must be able to monkey-patch
with gevent before anything imports socket-level modules.
"""
