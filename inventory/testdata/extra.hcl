defaults {
  known_hosts = "/etc/ssh/ssh_known_hosts"
  user        = "hcl-default"
}

# Already in hosts.ini: gains a group and an address; its user stays "jump" because a
# host setting from hosts.ini beats this file's defaults.
host "bastion.example.com" {
  address = "198.51.100.7"
  groups  = ["jump"]
}

host "new.example.com" {
  groups = ["k8s"]
}
