// Command pocketbase-peer is PocketBase, as the load harness (bench/run.sh)
// runs it beside ticketapi: the same data and the same operations, so that
// each of ticketapi's figures can be set against a well-known Go server
// that does the same job on SQLite.
//
// It is its own Go module, so that ticketapi's module never depends on
// PocketBase (nor on the newer Go that PocketBase needs).
//
// At first start a migration creates:
//   - employees: first_name, last_name, nick_name, phone, email, birthday,
//     country, city, address, created, updated (ticketapi's employee);
//   - tickets: title, description, status, employee (a relation to
//     employees), owner (a relation to users), created, updated, with an
//     index on employee and one on owner (ticketapi has both);
//   - and it changes PocketBase's own auth collection "users" (password
//     hashed with bcrypt at PocketBase's default cost, 10).
//
// Every list, view and create rule of the three is `@request.auth.id != ""`:
// only a logged-in user may read or write, as in ticketapi. Login alerts
// (an e-mail on a login from a new device) are off: the machine sends no
// mail. Everything else (request logs in auxiliary.db, no rate limits) is
// PocketBase's default.
//
// Environment, read at start (`pocketbase-peer serve --http 127.0.0.1:0 --dir DIR`):
//
//	BENCH_USER_EMAIL, BENCH_USER_PASSWORD
//	        create this user when no user has that e-mail; its id is
//	        u00000000000001
//	BENCH_EMPLOYEES, BENCH_TICKETS, BENCH_TICKETED
//	        when the employees collection is empty, seed it like
//	        bench/seed.sql does ticketapi's database: employees 1..N with ids
//	        e00000000000001.., tickets 1..M with ids t00000000000001.., the
//	        tickets going round-robin to employees 1..BENCH_TICKETED, all
//	        owned by the user above (one transaction)
//
// Once it accepts connections it prints "listening HOST:PORT" on stdout
// (the port of --http may be 0: a free one).
package main

import (
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

const (
	userID    = "u00000000000001"
	loggedIn  = `@request.auth.id != ""`
	seedStamp = "2024-01-01 00:00:00.000Z"
)

func main() {
	core.AppMigrations.Register(createCollections, nil, "1767225600_bench_collections.go")

	// Not pocketbase.New(): it takes a binary under the temporary directory
	// (where the harness builds it) for `go run` and turns on the
	// development mode, which prints every SQL statement.
	app := pocketbase.NewWithConfig(pocketbase.Config{DefaultDev: false, HideStartBanner: true})
	app.OnServe().BindFunc(func(e *core.ServeEvent) error {
		if err := seed(e.App); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		// No installer (a link to create the first superuser): the
		// harness needs none.
		e.InstallerFunc = nil
		ln, err := net.Listen("tcp", e.Server.Addr)
		if err != nil {
			return err
		}
		e.Listener = ln
		fmt.Printf("listening %s\n", ln.Addr())
		return e.Next()
	})
	if err := app.Start(); err != nil {
		log.Fatal(err)
	}
}

func textField(name string, max int) *core.TextField {
	return &core.TextField{Name: name, Max: max}
}

func timestamps(c *core.Collection) {
	c.Fields.Add(&core.AutodateField{Name: "created", OnCreate: true})
	c.Fields.Add(&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true})
}

func createCollections(app core.App) error {
	users, err := app.FindCollectionByNameOrId("users")
	if err != nil {
		return err
	}
	users.ListRule = types.Pointer(loggedIn)
	users.ViewRule = types.Pointer(loggedIn)
	users.CreateRule = types.Pointer(loggedIn)
	users.AuthAlert.Enabled = false
	if err := app.Save(users); err != nil {
		return fmt.Errorf("users: %w", err)
	}

	employees := core.NewBaseCollection("employees")
	employees.ListRule = types.Pointer(loggedIn)
	employees.ViewRule = types.Pointer(loggedIn)
	employees.CreateRule = types.Pointer(loggedIn)
	for _, name := range []string{"first_name", "last_name", "nick_name", "country", "city"} {
		employees.Fields.Add(textField(name, 100))
	}
	employees.Fields.Add(textField("phone", 20), textField("email", 254), textField("birthday", 10), textField("address", 200))
	timestamps(employees)
	if err := app.Save(employees); err != nil {
		return fmt.Errorf("employees: %w", err)
	}

	tickets := core.NewBaseCollection("tickets")
	tickets.ListRule = types.Pointer(loggedIn)
	tickets.ViewRule = types.Pointer(loggedIn)
	tickets.CreateRule = types.Pointer(loggedIn)
	tickets.Fields.Add(
		&core.TextField{Name: "title", Max: 100, Required: true},
		textField("description", 1000),
		&core.SelectField{Name: "status", MaxSelect: 1, Required: true,
			Values: []string{"open", "in_progress", "closed"}},
		&core.RelationField{Name: "employee", CollectionId: employees.Id, MaxSelect: 1, Required: true},
		&core.RelationField{Name: "owner", CollectionId: users.Id, MaxSelect: 1, Required: true},
	)
	timestamps(tickets)
	tickets.AddIndex("idx_tickets_employee", false, "employee", "")
	tickets.AddIndex("idx_tickets_owner", false, "owner", "")
	if err := app.Save(tickets); err != nil {
		return fmt.Errorf("tickets: %w", err)
	}
	return nil
}

func envInt(name string) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q: not a count", name, v)
	}
	return n, nil
}

// seed creates the bench user and the seed rows the environment asks for.
func seed(app core.App) error {
	start := time.Now()
	if email := os.Getenv("BENCH_USER_EMAIL"); email != "" {
		if _, err := app.FindAuthRecordByEmail("users", email); err != nil {
			users, err := app.FindCollectionByNameOrId("users")
			if err != nil {
				return err
			}
			u := core.NewRecord(users)
			u.Id = userID
			u.SetEmail(email)
			u.SetVerified(true)
			u.SetPassword(os.Getenv("BENCH_USER_PASSWORD"))
			u.Set("name", "Bench User")
			if err := app.Save(u); err != nil {
				return fmt.Errorf("user %s: %w", email, err)
			}
		}
	}

	employees, err := envInt("BENCH_EMPLOYEES")
	if err != nil {
		return err
	}
	tickets, err := envInt("BENCH_TICKETS")
	if err != nil {
		return err
	}
	ticketed, err := envInt("BENCH_TICKETED")
	if err != nil {
		return err
	}
	if employees == 0 {
		return nil
	}
	if ticketed == 0 || ticketed > employees {
		ticketed = employees
	}
	var have int
	if err := app.DB().NewQuery("SELECT count(*) FROM employees").Row(&have); err != nil {
		return err
	}
	if have > 0 {
		return nil // seeded at an earlier start
	}
	err = app.RunInTransaction(func(tx core.App) error {
		// The same rows as bench/seed.sql writes into ticketapi's database,
		// in one statement per table; every value passes the fields' rules.
		_, err := tx.DB().NewQuery(`
			WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {:employees})
			INSERT INTO employees (id, first_name, last_name, nick_name, phone, email, birthday,
			                       country, city, address, created, updated)
			SELECT printf('e%014d', i), 'Bench', 'Employee', 'bench', printf('+1555%07d', i),
			       printf('bench%d@example.com', i), '1990-01-01', 'Germany', 'Berlin',
			       printf('Benchmark Street %d, Berlin', i), {:stamp}, {:stamp}
			FROM n`).Bind(map[string]any{"employees": employees, "stamp": seedStamp}).Execute()
		if err != nil || tickets == 0 {
			return err
		}
		_, err = tx.DB().NewQuery(`
			WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {:tickets})
			INSERT INTO tickets (id, title, description, status, employee, owner, created, updated)
			SELECT printf('t%014d', i), printf('Ticket number %d', i), 'Seeded by the load harness', 'open',
			       printf('e%014d', (i - 1) % {:ticketed} + 1), {:owner}, {:stamp}, {:stamp}
			FROM n`).Bind(map[string]any{"tickets": tickets, "ticketed": ticketed, "owner": userID,
			"stamp": seedStamp}).Execute()
		return err
	})
	if err != nil {
		return err
	}
	fmt.Printf("seeded %d employees and %d tickets in %s\n", employees, tickets, time.Since(start).Round(time.Millisecond))
	return nil
}
