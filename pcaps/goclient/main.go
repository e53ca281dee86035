// goclient: the Go service of the capture suite, built with GO111MODULE=off against Debian's
// golang-github-go-sql-driver-mysql-dev. It prints one JSON object per line on stdout:
//
//	{"event":"dial","local":"127.0.0.1:40000"}            every TCP connection it opens
//	{"event":"query","local":...,"thread_id":12,"reported":"ok"}
//	{"event":"error","local":...,"reported":"Error 1040: Too many connections"}
//
// Modes:
//
//	leak ADDR  the classic bug: db.Query("SELECT CONNECTION_ID()") in a loop, reading one row
//	           and never calling rows.Close(), so every query holds its connection and the
//	           pool keeps dialing until the server answers 1040; then the process exits
//	           without closing anything (FIN, no COM_QUIT, on every open connection).
//	work ADDR N  N queries on one connection, then db.Close() (COM_QUIT).
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"

	"github.com/go-sql-driver/mysql"
)

var (
	mu        sync.Mutex
	lastLocal string
)

func emit(fields map[string]interface{}) {
	line, _ := json.Marshal(fields)
	fmt.Println(string(line))
}

// dialLogged opens the TCP connection and reports its local address before the driver reads
// the greeting: the address is known even when the server refuses the connection.
func dialLogged(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	mu.Lock()
	lastLocal = conn.LocalAddr().String()
	mu.Unlock()
	emit(map[string]interface{}{"event": "dial", "local": conn.LocalAddr().String()})
	return conn, nil
}

func open(addr string) *sql.DB {
	mysql.RegisterDialContext("logtcp", dialLogged)
	db, err := sql.Open("mysql", "app:apppw@logtcp("+addr+")/test")
	if err != nil {
		panic(err)
	}
	return db
}

func leak(addr string) {
	db := open(addr)
	for i := 0; i < 1000; i++ {
		rows, err := db.Query("SELECT CONNECTION_ID()")
		if err != nil {
			emit(map[string]interface{}{"event": "error", "local": lastLocal, "reported": err.Error()})
			os.Exit(1) // no db.Close(), no rows.Close(): the kernel closes every socket (FIN)
		}
		var id int64
		rows.Next()
		if err := rows.Scan(&id); err != nil {
			panic(err)
		}
		emit(map[string]interface{}{"event": "query", "local": lastLocal, "thread_id": id, "reported": "ok"})
		// rows.Close() is missing on purpose: the connection stays busy and cannot be reused.
	}
}

func work(addr string, count int) {
	db := open(addr)
	db.SetMaxOpenConns(1)
	var id int64
	if err := db.QueryRow("SELECT CONNECTION_ID()").Scan(&id); err != nil {
		emit(map[string]interface{}{"event": "error", "local": lastLocal, "reported": err.Error()})
		os.Exit(1)
	}
	for i := 0; i < count; i++ {
		var n int64
		if err := db.QueryRow("SELECT COUNT(*) FROM items WHERE qty > ?", i).Scan(&n); err != nil {
			emit(map[string]interface{}{"event": "error", "local": lastLocal, "reported": err.Error()})
			os.Exit(1)
		}
	}
	db.Close()
	emit(map[string]interface{}{"event": "query", "local": lastLocal, "thread_id": id, "reported": "ok"})
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: goclient leak ADDR | goclient work ADDR N")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "leak":
		leak(os.Args[2])
	case "work":
		n, _ := strconv.Atoi(os.Args[3])
		work(os.Args[2], n)
	default:
		os.Exit(2)
	}
}
