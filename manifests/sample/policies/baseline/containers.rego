package baseline.containers

# Demo policy: refuse images that run as root.
deny[msg] {
    input.config.User == ""
    msg := "image runs as root"
}
