package local_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/palisade-fedi/palisade/store/local"
)

// The ingress records and queues a verified activity in one call; a
// consumer drains the queue with Claim and Ack.
func Example() {
	dir, _ := os.MkdirTemp("", "palisade-local-example")
	defer os.RemoveAll(dir)
	db, err := local.Open(dir, local.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	inbound, _ := db.Queue("inbound")
	instance, _ := inbound.Group("instance") // register consumers at startup

	// Ingress, after signature verification and policy:
	for _, id := range []string{"https://a.example/1", "https://a.example/1"} {
		_, err := db.Accept("activity", id, inbound, []byte(`{"id":"`+id+`"}`))
		switch {
		case errors.Is(err, local.ErrDuplicate):
			fmt.Println("202, duplicate")
		case errors.Is(err, local.ErrQueueFull):
			fmt.Println("429")
		case err != nil:
			fmt.Println("500")
		default:
			fmt.Println("202, queued")
		}
	}

	// Consumer loop body (take Notify before Claim, wait on it when idle):
	wake := inbound.Notify()
	items, _ := instance.Claim(100 /* max */, time.Minute /* lease */)
	for _, it := range items {
		fmt.Printf("process seq %d: %s\n", it.Seq, it.Value)
		instance.Ack(it.Seq)
	}
	_ = wake
	// Output:
	// 202, queued
	// 202, duplicate
	// process seq 1: {"id":"https://a.example/1"}
}
