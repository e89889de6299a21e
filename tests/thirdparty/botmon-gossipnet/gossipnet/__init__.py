"""gossipnet: a made-up P2P botnet protocol, packaged the way a third party packages a plugin."""
