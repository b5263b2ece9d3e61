variable "motd" {
    type = string
  default = "Managed by hostplan"
}

task "base" {
on = ["all"]
  file "/etc/motd" {
    content = "${var.motd}\n"
    mode = "0644"
      owner    =   "root"
  }
  command "stamp" {
    run = "date -u>/etc/stamp" # a comment stays
    creates = "/etc/stamp"
  }
}
