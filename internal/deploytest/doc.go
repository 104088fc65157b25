// Package deploytest checks the deployment files against the code, since no Docker engine
// runs where the tests do: the Dockerfile, docker-compose.yml, .env.example and deploy/.
//
// It has no code of its own; everything is in the tests:
//   - dockerfile_test.go: the image's shape, and its build flags equal the Makefile's;
//   - compose_test.go: the services, dependencies, healthchecks, ports, volumes, and no secret;
//   - envexample_test.go: .env.example names exactly what the service reads, and its values load;
//   - binary_test.go: the binary built with the Dockerfile's flags is static, stamped, probes
//     itself with -healthcheck and stops cleanly on SIGTERM.
//
// The files are found relative to the module root (the directory with go.mod).
package deploytest
