package browser

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
)

// Page is one browser tab. It records, from the moment it is opened,
// every console message, uncaught exception, browser log entry and network
// request of the page it shows.
type Page struct {
	b       *Browser
	target  string
	session string

	mu       sync.Mutex
	problems []string
	warnings []string
	console  []string
	requests []string
	loaded   chan struct{}
	isLoaded bool
}

// Open creates a tab with a viewport of width × height CSS pixels, loads
// url in it and waits for its load event and two animation frames (so
// the layout has settled and late console messages have arrived).
func (b *Browser) Open(ctx context.Context, url string, width, height int) (*Page, error) {
	var t struct {
		TargetID string `json:"targetId"`
	}
	if err := b.callInto(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &t); err != nil {
		return nil, err
	}
	var s struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.callInto(ctx, "", "Target.attachToTarget", map[string]any{"targetId": t.TargetID, "flatten": true}, &s); err != nil {
		return nil, err
	}
	p := &Page{b: b, target: t.TargetID, session: s.SessionID, loaded: make(chan struct{})}
	b.mu.Lock()
	b.pages[s.SessionID] = p
	b.mu.Unlock()
	for _, m := range []string{"Page.enable", "Runtime.enable", "Log.enable", "Network.enable"} {
		if _, err := b.call(ctx, p.session, m, nil); err != nil {
			return nil, err
		}
	}
	if _, err := b.call(ctx, p.session, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}); err != nil {
		return nil, err
	}
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := p.callInto(ctx, "Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		return nil, err
	}
	if nav.ErrorText != "" {
		return nil, fmt.Errorf("browser: load %s: %s", url, nav.ErrorText)
	}
	select {
	case <-p.loaded:
	case <-ctx.Done():
		return nil, fmt.Errorf("browser: load %s: %w", url, ctx.Err())
	}
	if _, err := p.Eval(ctx, `new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`); err != nil {
		return nil, err
	}
	return p, nil
}

func (b *Browser) callInto(ctx context.Context, session, method string, params, out any) error {
	res, err := b.call(ctx, session, method, params)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(res, out); err != nil {
		return fmt.Errorf("browser: %s reply: %w", method, err)
	}
	return nil
}

func (p *Page) callInto(ctx context.Context, method string, params, out any) error {
	return p.b.callInto(ctx, p.session, method, params, out)
}

// event records one DevTools event (called by the reader, Browser.mu held).
func (p *Page) event(method string, params json.RawMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch method {
	case "Page.loadEventFired":
		if !p.isLoaded {
			p.isLoaded = true
			close(p.loaded)
		}
	case "Runtime.consoleAPICalled":
		var e struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		if !p.decode(method, params, &e) {
			return
		}
		var parts []string
		for _, a := range e.Args {
			if a.Value != nil {
				parts = append(parts, fmt.Sprint(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		msg := "console." + e.Type + ": " + strings.Join(parts, " ")
		p.console = append(p.console, msg)
		switch e.Type {
		case "error", "assert":
			p.problems = append(p.problems, msg)
		case "warning":
			p.warnings = append(p.warnings, msg)
		}
	case "Runtime.exceptionThrown":
		var e struct {
			Details struct {
				Text      string `json:"text"`
				Line      int    `json:"lineNumber"`
				Exception struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
		}
		if !p.decode(method, params, &e) {
			return
		}
		p.problems = append(p.problems, fmt.Sprintf("uncaught exception (line %d): %s %s", e.Details.Line+1, e.Details.Text, e.Details.Exception.Description))
	case "Log.entryAdded":
		var e struct {
			Entry struct {
				Source, Level, Text, URL string
			} `json:"entry"`
		}
		if !p.decode(method, params, &e) {
			return
		}
		msg := "log." + e.Entry.Level + " (" + e.Entry.Source + "): " + e.Entry.Text
		if e.Entry.URL != "" {
			msg += " [" + e.Entry.URL + "]"
		}
		p.console = append(p.console, msg)
		switch e.Entry.Level {
		case "error":
			p.problems = append(p.problems, msg)
		case "warning":
			p.warnings = append(p.warnings, msg)
		}
	case "Network.requestWillBeSent":
		var e struct {
			Request struct {
				URL string `json:"url"`
			} `json:"request"`
		}
		if !p.decode(method, params, &e) {
			return
		}
		p.requests = append(p.requests, e.Request.URL)
	case "Network.loadingFailed":
		var e struct {
			ErrorText     string `json:"errorText"`
			BlockedReason string `json:"blockedReason"`
		}
		if !p.decode(method, params, &e) {
			return
		}
		p.problems = append(p.problems, "network: loading failed: "+e.ErrorText+" "+e.BlockedReason)
	}
}

// decode unmarshals an event's params into e; an event that does not decode
// is recorded as a problem (the page's report would otherwise miss it).
func (p *Page) decode(method string, params json.RawMessage, e any) bool {
	if err := json.Unmarshal(params, e); err != nil {
		p.problems = append(p.problems, fmt.Sprintf("devtools: %s: undecodable event: %v", method, err))
		return false
	}
	return true
}

// Problems are the console errors and failed assertions, uncaught
// exceptions, browser log errors (a blocked resource, a Content Security
// Policy violation) and failed network loads seen so far.
func (p *Page) Problems() []string { return p.copyOf(&p.problems) }

// Warnings are the console and browser log warnings seen so far.
func (p *Page) Warnings() []string { return p.copyOf(&p.warnings) }

// Console is every console message and browser log entry seen so far.
func (p *Page) Console() []string { return p.copyOf(&p.console) }

// Requests are the URLs the page requested, the page itself included
// (data: URLs of embedded images are listed too).
func (p *Page) Requests() []string { return p.copyOf(&p.requests) }

func (p *Page) copyOf(s *[]string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), (*s)...)
}

// Eval evaluates the JavaScript expression expr in the page (awaiting it
// when it is a promise) and returns its value as JSON. A thrown exception
// is an error.
func (p *Page) Eval(ctx context.Context, expr string) (json.RawMessage, error) {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := p.callInto(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r); err != nil {
		return nil, err
	}
	if r.Exception != nil {
		return nil, fmt.Errorf("browser: evaluate %q: %s %s", expr, r.Exception.Text, r.Exception.Exception.Description)
	}
	return r.Result.Value, nil
}

// EvalInto evaluates expr like Eval and decodes its value into out.
func (p *Page) EvalInto(ctx context.Context, expr string, out any) error {
	v, err := p.Eval(ctx, expr)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(v, out); err != nil {
		return fmt.Errorf("browser: evaluate %q: value %s: %w", expr, v, err)
	}
	return nil
}

// EmulateMedia makes CSS see media type media ("print", "screen", or ""
// for the default).
func (p *Page) EmulateMedia(ctx context.Context, media string) error {
	_, err := p.b.call(ctx, p.session, "Emulation.setEmulatedMedia", map[string]any{"media": media})
	return err
}

// Screenshot returns a PNG of the viewport, or with fullPage of the whole
// page, at most maxHeight CSS pixels tall (0: no limit).
func (p *Page) Screenshot(ctx context.Context, fullPage bool, maxHeight int) ([]byte, error) {
	params := map[string]any{"format": "png"}
	if fullPage {
		var m struct {
			Content struct {
				Width  float64 `json:"width"`
				Height float64 `json:"height"`
			} `json:"cssContentSize"`
		}
		if err := p.callInto(ctx, "Page.getLayoutMetrics", nil, &m); err != nil {
			return nil, err
		}
		h := m.Content.Height
		if maxHeight > 0 {
			h = math.Min(h, float64(maxHeight))
		}
		params["captureBeyondViewport"] = true
		params["clip"] = map[string]any{"x": 0, "y": 0, "width": m.Content.Width, "height": h, "scale": 1}
	}
	return p.base64Call(ctx, "Page.captureScreenshot", params)
}

// PrintPDF prints the page as Chromium's print preview would (A4, with
// backgrounds) and returns the PDF.
func (p *Page) PrintPDF(ctx context.Context) ([]byte, error) {
	return p.base64Call(ctx, "Page.printToPDF", map[string]any{"printBackground": true, "paperWidth": 8.27, "paperHeight": 11.69,
		"preferCSSPageSize": true})
}

func (p *Page) base64Call(ctx context.Context, method string, params any) ([]byte, error) {
	var r struct {
		Data string `json:"data"`
	}
	if err := p.callInto(ctx, method, params, &r); err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		return nil, fmt.Errorf("browser: %s data: %w", method, err)
	}
	return b, nil
}

// Close closes the tab.
func (p *Page) Close(ctx context.Context) error {
	p.b.mu.Lock()
	delete(p.b.pages, p.session)
	p.b.mu.Unlock()
	_, err := p.b.call(ctx, "", "Target.closeTarget", map[string]any{"targetId": p.target})
	return err
}
