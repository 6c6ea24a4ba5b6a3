// Command kstatus reads Kubernetes objects as JSON on stdin (one object, a List as `kubectl get -o json`
// prints it, or several objects one after another) and prints, for each one, the status that kstatus
// (sigs.k8s.io/cli-utils/pkg/kstatus/status, the library Flux, kpt and cli-utils decide health with)
// computes for it, as one JSON line:
//
//	{"kind":"VectorStore","namespace":"ns","name":"main","status":"Current","message":"Resource is Ready"}
//
// An object kstatus cannot judge is printed with the status "Error" and the error as its message; the
// exit status is 1 only when stdin is not JSON. hack/kstatus/build.sh builds it.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type result struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	Message   string `json:"message"`
}

func compute(obj map[string]interface{}) result {
	u := &unstructured.Unstructured{Object: obj}
	r := result{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
	res, err := status.Compute(u)
	if err != nil {
		r.Status, r.Message = "Error", err.Error()
		return r
	}
	r.Status, r.Message = res.Status.String(), res.Message
	return r
}

// items flattens a List (kind "List", or "<Kind>List" with items, as the API returns collections).
func items(obj map[string]interface{}) []map[string]interface{} {
	kind, _ := obj["kind"].(string)
	list, isList := obj["items"].([]interface{})
	if !isList || !strings.HasSuffix(kind, "List") {
		return []map[string]interface{}{obj}
	}
	out := make([]map[string]interface{}, 0, len(list))
	for _, item := range list {
		if m, ok := item.(map[string]interface{}); ok {
			out = append(out, m)
		}
	}
	return out
}

func main() {
	dec := json.NewDecoder(os.Stdin)
	enc := json.NewEncoder(os.Stdout)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return
			}
			fmt.Fprintf(os.Stderr, "kstatus: reading stdin: %v\n", err)
			os.Exit(1)
		}
		// apimachinery's Unmarshal, as client-go decodes: whole numbers become int64, which
		// unstructured's accessors (metadata.generation, status.observedGeneration) require.
		var obj map[string]interface{}
		if err := utiljson.Unmarshal(raw, &obj); err != nil {
			fmt.Fprintf(os.Stderr, "kstatus: reading stdin: %v\n", err)
			os.Exit(1)
		}
		for _, o := range items(obj) {
			if err := enc.Encode(compute(o)); err != nil {
				fmt.Fprintf(os.Stderr, "kstatus: %v\n", err)
				os.Exit(1)
			}
		}
	}
}
