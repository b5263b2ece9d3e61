# An inventory for the quickstart: adjust addresses and the key to your hosts.
defaults {
  user          = "root"
  identity_file = "~/.ssh/id_ed25519"
}

host "web-1" {
  address = "192.0.2.10"
  groups  = ["web"]
}

host "web-2" {
  address = "192.0.2.11"
  groups  = ["web"]
}
