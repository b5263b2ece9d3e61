# Security Center onboarding, step 3: API-server audit logging on every master
# (domain: the vendor's manual procedure, made safe). See README.md next to this file.

variable "cluster_id" {
  type        = string
  default     = null
  description = "The cluster ID shown by the Security Center console, for an inventory of one cluster. A fleet's inventory sets cluster_id as a var of each cluster's group instead."
  validation {
    condition     = var.cluster_id == null || can(regex("^[A-Za-z0-9][A-Za-z0-9_-]*$", var.cluster_id))
    error_message = "cluster_id is the console's cluster ID: letters, digits, '-' and '_'."
  }
}

variable "health_timeout" {
  type        = string
  default     = "5m"
  description = "How long each master's API server may take to come back before its change is rolled back."
}

locals {
  # The host's cluster: its group's cluster_id var in a fleet's inventory, else
  # --var cluster_id. It names the log collector's env vars and groups the rollout.
  # (An error here: give each cluster's group a cluster_id of letters, digits, - and _.)
  cluster_id = regex("^[A-Za-z0-9][A-Za-z0-9_-]*$", try(host.vars.cluster_id, var.cluster_id))

  # Resource labels are literal paths, so these paths are fixed here too.
  audit_log_dir     = "/var/log/kubernetes"
  audit_policy_file = "/etc/kubernetes/audit-policy.yaml"
  audit_log         = "${local.audit_log_dir}/kubernetes.audit"
  # The vendor's values, which are also the CIS Kubernetes Benchmark's (1.2.16-1.2.19).
  audit_flags = {
    "audit-log-path"      = local.audit_log
    "audit-log-maxage"    = "30"
    "audit-log-maxbackup" = "10"
    "audit-log-maxsize"   = "100"
    "audit-policy-file"   = local.audit_policy_file
  }
  env_prefix = "aliyun_logs_audit-${local.cluster_id}"
}

# One master at a time in each cluster, clusters side by side: a master's API server
# must be back, restarted with the new flags and ready, before the next master of its
# cluster is touched. A master that does not come back gets its old manifest back and
# its cluster's rollout stops there; the other clusters go on.
task "audit-logging" {
  on     = ["masters"]
  serial = 1
  per    = local.cluster_id

  health "kube_apiserver" {
    timeout = var.health_timeout
  }

  directory "/var/log/kubernetes" {
    mode = "0700"
  }

  # The policy must exist before the manifest that mounts it: with hostPath type
  # FileOrCreate kubelet would otherwise create an empty file and the server would exit.
  audit_policy "/etc/kubernetes/audit-policy.yaml" {}

  static_pod "/etc/kubernetes/manifests/kube-apiserver.yaml" {
    container = "kube-apiserver"
    flags     = local.audit_flags
    env = {
      (local.env_prefix)             = local.audit_log
      "${local.env_prefix}_tags"     = "audit=apiserver"
      "${local.env_prefix}_product"  = "k8s-audit"
      "${local.env_prefix}_jsonfile" = "true"
    }
    volume_mount "k8s-audit" {
      mount_path = local.audit_log_dir
    }
    volume_mount "audit-policy" {
      mount_path = local.audit_policy_file
      read_only  = true
    }
    host_path_volume "k8s-audit" {
      path = local.audit_log_dir
      type = "DirectoryOrCreate"
    }
    host_path_volume "audit-policy" {
      path = local.audit_policy_file
      type = "FileOrCreate"
    }
  }
}

# kubeadm upgrade regenerates the manifest from the kubeadm-config ConfigMap and would
# drop the settings above; recording them there keeps them. Once per cluster, after every
# master is healthy with them. (Delete this task if you do not use kubeadm upgrade.)
task "record-in-kubeadm-config" {
  on       = ["masters"]
  run_once = true
  per      = local.cluster_id

  kubeadm_config "apiServer" {
    extra_args = local.audit_flags
    extra_volume "k8s-audit" {
      host_path  = local.audit_log_dir
      mount_path = local.audit_log_dir
      path_type  = "DirectoryOrCreate"
    }
    extra_volume "audit-policy" {
      host_path  = local.audit_policy_file
      mount_path = local.audit_policy_file
      read_only  = true
      path_type  = "FileOrCreate"
    }
  }
}
