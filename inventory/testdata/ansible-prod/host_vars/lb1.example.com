ansible_port: 8022
