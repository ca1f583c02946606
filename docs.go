package main

// docs.go: the routes that need no token: the OpenAPI document, Swagger UI
// (served from files inside the binary, so the page works offline), the
// favicon, and the health checks for systemd, NGINX and load balancers.

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"
)

//go:embed openapi.json
var openapiJSON []byte

//go:embed static
var staticFiles embed.FS

// openapiDocument is openapi.json with what the config decides filled in:
// info and tags from api_docs, the server's base path, the token URL and
// the scopes.
func openapiDocument(cfg *Config) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	var docs struct {
		Title          string          `json:"title"`
		Version        string          `json:"version"`
		Summary        string          `json:"summary"`
		Description    string          `json:"description"`
		TermsOfService string          `json:"terms_of_service"`
		Contact        json.RawMessage `json:"contact"`
		License        json.RawMessage `json:"license_info"`
		Tags           json.RawMessage `json:"openapi_tags"`
	}
	if len(cfg.APIDocs) > 0 {
		if err := json.Unmarshal(cfg.APIDocs, &docs); err != nil {
			return nil, fmt.Errorf("config api_docs: %w", err)
		}
	}
	info, _ := doc["info"].(map[string]any)
	set := func(m map[string]any, key string, value any) {
		switch v := value.(type) {
		case string:
			if v != "" {
				m[key] = v
			}
		case json.RawMessage:
			var x any
			if len(v) > 0 && json.Unmarshal(v, &x) == nil && x != nil {
				m[key] = x
			}
		}
	}
	set(info, "title", docs.Title)
	set(info, "version", docs.Version)
	set(info, "summary", docs.Summary)
	set(info, "description", docs.Description)
	set(info, "termsOfService", docs.TermsOfService)
	set(info, "contact", docs.Contact)
	set(info, "license", docs.License)
	set(doc, "tags", docs.Tags)
	doc["servers"] = []any{map[string]any{"url": cfg.RootPath}}
	if schemes, ok := doc["components"].(map[string]any)["securitySchemes"].(map[string]any); ok {
		if flow, ok := schemes["OAuth2PasswordBearer"].(map[string]any)["flows"].(map[string]any)["password"].(map[string]any); ok {
			flow["tokenUrl"] = cfg.Auth.OAuth2Scheme.TokenURL
			flow["scopes"] = cfg.Auth.OAuth2Scheme.Scopes
		}
	}
	return json.MarshalIndent(doc, "", "  ")
}

// docsRoutes registers the routes that need no token.
func (a *app) docsRoutes() error {
	doc, err := openapiDocument(a.cfg)
	if err != nil {
		return err
	}
	static, _ := fs.Sub(staticFiles, "static")
	page, err := fs.ReadFile(static, "index.html")
	if err != nil {
		return err
	}
	favicon, _ := fs.ReadFile(static, "favicon-32x32.png")
	root := a.cfg.RootPath

	serveBytes := func(contentType string, body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", contentType)
			w.Header().Set("Cache-Control", "no-cache")
			w.Write(body)
		}
	}
	a.mux.Handle("GET "+root+"/openapi.json", serveBytes("application/json; charset=utf-8", doc))
	a.mux.Handle("GET "+root+"/docs", docsHeaders(serveBytes("text/html; charset=utf-8", page)))
	files, err := docsFiles(static)
	if err != nil {
		return err
	}
	a.mux.Handle("GET "+root+"/docs/{file}", docsHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.PathValue("file")] // any other name, however encoded, is not a file of the page
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"detail": "Not Found"})
			return
		}
		w.Header().Set("Content-Type", f.contentType)
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(f.body)
	})))
	a.mux.Handle("GET /favicon.ico", serveBytes("image/png", favicon))

	// GET /healthz: the process is up.
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	// GET /readyz: the database answers a query within a second.
	a.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if err := a.store.Ping(ctx); err != nil {
			a.log.Warn("readiness check failed", "request_id", requestInfoOf(r).id, "error", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return nil
}

// docsFile is one file of the docs page, read once at start.
type docsFile struct {
	contentType string
	body        []byte
}

// docsFiles are the files GET /docs/{file} serves: those of static/ but
// the page itself (served at /docs) and the refresh script. A fixed list
// answers every other name with the JSON 404, where a file server would
// answer some encoded names (../x, ./x) with plain-text 400s and 500s.
func docsFiles(static fs.FS) (map[string]docsFile, error) {
	entries, err := fs.ReadDir(static, ".")
	if err != nil {
		return nil, err
	}
	files := map[string]docsFile{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == "index.html" || path.Ext(name) == ".sh" {
			continue
		}
		body, err := fs.ReadFile(static, name)
		if err != nil {
			return nil, err
		}
		contentType := mime.TypeByExtension(path.Ext(name))
		if contentType == "" {
			contentType = http.DetectContentType(body) // LICENSE, NOTICE: text
		}
		files[name] = docsFile{contentType, body}
	}
	return files, nil
}

// docsHeaders keeps the docs page from running anything but its own files.
func docsHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; "+
			"style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}
