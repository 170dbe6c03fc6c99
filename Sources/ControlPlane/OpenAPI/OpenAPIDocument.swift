// The OpenAPI 3.1 document of balctl-server, served at GET /api/v1/openapi.json.
//
// Embedded as source (not a SwiftPM resource) so the server stays one binary. Kept true by
// Tests/ControlPlaneTests/OpenAPIDocumentTests.swift (every route the router has is documented,
// and nothing else) and Tests/EndToEndTests/OpenAPIFuzzTests.swift (schemathesis against a live
// server: no 5xx, every status, content type and body as documented). A route added to the
// router without a line here fails the first; a response that does not match fails the second.

public enum OpenAPIDocument {
    public static let json = #"""
{
 "openapi": "3.1.0",
 "info": {
  "title": "balctl control plane",
  "version": "1",
  "description": "The operator API (`/api/v1`, used by the `balctl` CLI), the agent routes (`/api/agents`, used by `balctl-heartbeat`), the agent bundle and the health and metrics endpoints of `balctl-server`. Times are Unix seconds. Every refusal is JSON `{\"error\": \"…\"}` with a 4xx status (503/507 when a store is unavailable or full). Kept true by ControlPlaneTests/OpenAPIDocumentTests (the router's routes) and the schemathesis run in EndToEndTests/OpenAPIFuzzTests."
 },
 "paths": {
  "/healthz": {
   "get": {
    "summary": "Liveness for load balancers: database reachable, this replica's role.",
    "tags": [
     "public"
    ],
    "operationId": "getHealthz",
    "responses": {
     "200": {
      "description": "ok",
      "content": {
       "text/plain": {
        "schema": {
         "type": "string"
        }
       }
      }
     },
     "503": {
      "description": "The database has not answered for 3 × the leader lease TTL.",
      "content": {
       "text/plain": {
        "schema": {
         "type": "string"
        }
       }
      }
     }
    },
    "security": []
   }
  },
  "/metrics": {
   "get": {
    "summary": "Prometheus exposition of the control plane's metrics (scrape token and/or allow-list).",
    "tags": [
     "public"
    ],
    "operationId": "getMetrics",
    "responses": {
     "200": {
      "description": "Prometheus text format 0.0.4.",
      "content": {
       "text/plain": {
        "schema": {
         "type": "string"
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "403": {
      "$ref": "#/components/responses/E403"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "security": [
     {
      "metricsToken": []
     },
     {}
    ]
   }
  },
  "/api/v1/openapi.json": {
   "get": {
    "summary": "This document.",
    "tags": [
     "public"
    ],
    "operationId": "getOpenapijson",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "object"
        }
       }
      }
     }
    },
    "security": []
   }
  },
  "/agent/agent.zip": {
   "get": {
    "summary": "The agent bundle (public: the install command fetches it before the host is enrolled).",
    "tags": [
     "agent bundle"
    ],
    "operationId": "getAgentAgentzip",
    "responses": {
     "200": {
      "description": "agent.zip",
      "content": {
       "application/zip": {
        "schema": {
         "type": "string",
         "format": "binary"
        }
       }
      }
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "security": []
   }
  },
  "/agent/manifest.json": {
   "get": {
    "summary": "The agent bundle's signed manifest.",
    "tags": [
     "agent bundle"
    ],
    "operationId": "getAgentManifestjson",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/AgentBundleManifest"
        }
       }
      }
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "security": []
   }
  },
  "/agent/manifest.sig": {
   "get": {
    "summary": "Ed25519 signature of manifest.json (base64).",
    "tags": [
     "agent bundle"
    ],
    "operationId": "getAgentManifestsig",
    "responses": {
     "200": {
      "description": "signature",
      "content": {
       "text/plain": {
        "schema": {
         "type": "string"
        }
       }
      }
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "security": []
   }
  },
  "/api/agents/heartbeat": {
   "post": {
    "summary": "Report the host; renew leases; claim jobs.",
    "tags": [
     "agent"
    ],
    "operationId": "postAgentsHeartbeat",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/HeartbeatReply"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "403": {
      "$ref": "#/components/responses/E403"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     }
    },
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/HostReport"
       }
      }
     }
    },
    "security": [
     {
      "agentSecret": []
     }
    ]
   }
  },
  "/api/agents/wait": {
   "get": {
    "summary": "Long poll: answered when work for this member is committed, or after ~25 s.",
    "tags": [
     "agent"
    ],
    "operationId": "getAgentsWait",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "object",
         "properties": {
          "wake": {
           "type": "boolean"
          }
         },
         "required": [
          "wake"
         ]
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "403": {
      "$ref": "#/components/responses/E403"
     }
    },
    "security": [
     {
      "agentSecret": []
     }
    ]
   }
  },
  "/api/agents/jobs/progress": {
   "post": {
    "summary": "Progress of a running attempt (renews its lease).",
    "tags": [
     "agent"
    ],
    "operationId": "postAgentsJobsProgress",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "object",
         "properties": {
          "ok": {
           "type": "boolean"
          }
         },
         "required": [
          "ok"
         ]
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "403": {
      "$ref": "#/components/responses/E403"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     }
    },
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/JobProgress"
       }
      }
     }
    },
    "security": [
     {
      "agentSecret": []
     }
    ]
   }
  },
  "/api/agents/jobs/complete": {
   "post": {
    "summary": "The outcome of an attempt (409 when the attempt is stale).",
    "tags": [
     "agent"
    ],
    "operationId": "postAgentsJobsComplete",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "object",
         "properties": {
          "state": {
           "type": "string"
          }
         },
         "required": [
          "state"
         ]
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "403": {
      "$ref": "#/components/responses/E403"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     }
    },
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/JobCompletion"
       }
      }
     }
    },
    "security": [
     {
      "agentSecret": []
     }
    ]
   }
  },
  "/api/agents/snapshots/begin": {
   "post": {
    "summary": "Begin a snapshot upload for a running backup job.",
    "tags": [
     "agent"
    ],
    "operationId": "postAgentsSnapshotsBegin",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/SnapshotBeginReply"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "403": {
      "$ref": "#/components/responses/E403"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     },
     "503": {
      "$ref": "#/components/responses/E503"
     },
     "507": {
      "$ref": "#/components/responses/E507"
     }
    },
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/SnapshotBeginRequest"
       }
      }
     }
    },
    "security": [
     {
      "agentSecret": []
     }
    ]
   }
  },
  "/api/agents/snapshots/{snapshot}/{kind}/{index}": {
   "put": {
    "summary": "Upload one part (up to 64 MiB), whole or streamed (chunked) as it is made; answered with the part as stored.",
    "tags": [
     "agent"
    ],
    "operationId": "putAgentsSnapshotsSnapshotKindIndex",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/SnapshotPart"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "403": {
      "$ref": "#/components/responses/E403"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     },
     "503": {
      "$ref": "#/components/responses/E503"
     },
     "507": {
      "$ref": "#/components/responses/E507"
     }
    },
    "parameters": [
     {
      "name": "snapshot",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      },
      "description": "Snapshot id."
     },
     {
      "name": "kind",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "enum": [
        "data",
        "manifest"
       ]
      }
     },
     {
      "name": "index",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "minimum": 0,
       "maximum": 65535
      },
      "description": "Part index."
     },
     {
      "name": "X-Balctl-SHA256",
      "in": "header",
      "required": false,
      "schema": {
       "type": "string"
      },
      "description": "Hex SHA-256 of the part, checked before it is stored. A part streamed while it is made comes without it: the answer's sha256 is what the control plane computed, for the agent to compare."
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/octet-stream": {
       "schema": {
        "type": "string",
        "format": "binary"
       }
      }
     }
    },
    "security": [
     {
      "agentSecret": []
     }
    ]
   },
   "get": {
    "summary": "One part of a snapshot, for a restore.",
    "tags": [
     "agent"
    ],
    "operationId": "getAgentsSnapshotsSnapshotKindIndex",
    "responses": {
     "200": {
      "description": "The part's bytes.",
      "content": {
       "application/octet-stream": {
        "schema": {
         "type": "string",
         "format": "binary"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "403": {
      "$ref": "#/components/responses/E403"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "503": {
      "$ref": "#/components/responses/E503"
     }
    },
    "parameters": [
     {
      "name": "snapshot",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      },
      "description": "Snapshot id."
     },
     {
      "name": "kind",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "enum": [
        "data",
        "manifest"
       ]
      }
     },
     {
      "name": "index",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "minimum": 0,
       "maximum": 65535
      },
      "description": "Part index."
     }
    ],
    "security": [
     {
      "agentSecret": []
     }
    ]
   }
  },
  "/api/agents/snapshots/{snapshot}/commit": {
   "post": {
    "summary": "Commit an uploaded snapshot.",
    "tags": [
     "agent"
    ],
    "operationId": "postAgentsSnapshotsSnapshotCommit",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/SnapshotView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "403": {
      "$ref": "#/components/responses/E403"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     },
     "503": {
      "$ref": "#/components/responses/E503"
     },
     "507": {
      "$ref": "#/components/responses/E507"
     }
    },
    "parameters": [
     {
      "name": "snapshot",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      },
      "description": "Snapshot id."
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/SnapshotCommitRequest"
       }
      }
     }
    },
    "security": [
     {
      "agentSecret": []
     }
    ]
   }
  },
  "/api/agents/snapshots/{snapshot}": {
   "get": {
    "summary": "A snapshot, for a restore.",
    "tags": [
     "agent"
    ],
    "operationId": "getAgentsSnapshotsSnapshot",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/SnapshotView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "403": {
      "$ref": "#/components/responses/E403"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "503": {
      "$ref": "#/components/responses/E503"
     }
    },
    "parameters": [
     {
      "name": "snapshot",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      },
      "description": "Snapshot id."
     }
    ],
    "security": [
     {
      "agentSecret": []
     }
    ]
   }
  },
  "/api/v1/whoami": {
   "get": {
    "summary": "The account behind the token.",
    "tags": [
     "accounts"
    ],
    "operationId": "getWhoami",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/AccountView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/accounts": {
   "get": {
    "summary": "Accounts (an admin sees all).",
    "tags": [
     "accounts"
    ],
    "operationId": "getAccounts",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/AccountView"
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   },
   "post": {
    "summary": "Create an account (admin) and its first token.",
    "tags": [
     "accounts"
    ],
    "operationId": "postAccounts",
    "responses": {
     "201": {
      "description": "Created",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/TokenIssued"
        }
       }
      },
      "links": {
       "GetAccountsAccountBackupquota": {
        "operationId": "getAccountsAccountBackupquota",
        "parameters": {
         "account": "$response.body#/account/id"
        }
       },
       "PutAccountsAccountBackupquota": {
        "operationId": "putAccountsAccountBackupquota",
        "parameters": {
         "account": "$response.body#/account/id"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "403": {
      "$ref": "#/components/responses/E403"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     }
    },
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/CreateAccountRequest"
       }
      }
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/tokens": {
   "post": {
    "summary": "A new API token for this account.",
    "tags": [
     "accounts"
    ],
    "operationId": "postTokens",
    "responses": {
     "201": {
      "description": "Created",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/TokenIssued"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     }
    },
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/CreateTokenRequest"
       }
      }
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/users": {
   "get": {
    "summary": "Dashboard users of this account (an admin token: of every account). Never a password hash.",
    "tags": [
     "accounts"
    ],
    "operationId": "getUsers",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/WebUserView"
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   },
   "post": {
    "summary": "A dashboard user in this account (an admin token may name another account). The password (12–72 bytes) is stored as a bcrypt hash only.",
    "tags": [
     "accounts"
    ],
    "operationId": "postUsers",
    "responses": {
     "201": {
      "description": "Created",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/WebUserView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "403": {
      "$ref": "#/components/responses/E403"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     }
    },
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/CreateWebUserRequest"
       }
      }
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/users/{username}": {
   "delete": {
    "summary": "Remove a dashboard user and end its sessions (another account's user: 404, unless admin).",
    "tags": [
     "accounts"
    ],
    "operationId": "deleteUsersUsername",
    "responses": {
     "204": {
      "description": "Deleted."
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "username",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      },
      "description": "The user's name."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/audit": {
   "get": {
    "summary": "This account's audit log, newest first.",
    "tags": [
     "accounts"
    ],
    "operationId": "getAudit",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/AuditEntry"
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "limit",
      "in": "query",
      "required": false,
      "schema": {
       "type": "integer"
      },
      "description": "How many, newest first: 1–1000 (clamped), default 50."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/commands": {
   "get": {
    "summary": "The command catalogue.",
    "tags": [
     "jobs"
    ],
    "operationId": "getCommands",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/CommandInfo"
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/pools": {
   "get": {
    "summary": "Pools.",
    "tags": [
     "pools"
    ],
    "operationId": "getPools",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/PoolView"
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   },
   "post": {
    "summary": "Create a pool.",
    "tags": [
     "pools"
    ],
    "operationId": "postPools",
    "responses": {
     "201": {
      "description": "Created",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/PoolView"
        }
       }
      },
      "links": {
       "GetPoolsPool": {
        "operationId": "getPoolsPool",
        "parameters": {
         "pool": "$response.body#/id"
        }
       },
       "PatchPoolsPool": {
        "operationId": "patchPoolsPool",
        "parameters": {
         "pool": "$response.body#/id"
        }
       },
       "DeletePoolsPool": {
        "operationId": "deletePoolsPool",
        "parameters": {
         "pool": "$response.body#/id"
        }
       },
       "GetPoolsPoolMembers": {
        "operationId": "getPoolsPoolMembers",
        "parameters": {
         "pool": "$response.body#/id"
        }
       },
       "PostPoolsPoolMembers": {
        "operationId": "postPoolsPoolMembers",
        "parameters": {
         "pool": "$response.body#/id"
        }
       },
       "GetPoolsPoolJobs": {
        "operationId": "getPoolsPoolJobs",
        "parameters": {
         "pool": "$response.body#/id"
        }
       },
       "GetPoolsPoolFailover": {
        "operationId": "getPoolsPoolFailover",
        "parameters": {
         "pool": "$response.body#/id"
        }
       },
       "PatchPoolsPoolFailover": {
        "operationId": "patchPoolsPoolFailover",
        "parameters": {
         "pool": "$response.body#/id"
        }
       },
       "GetPoolsPoolFailoverEvents": {
        "operationId": "getPoolsPoolFailoverEvents",
        "parameters": {
         "pool": "$response.body#/id"
        }
       },
       "PostPoolsPoolFailoverCut": {
        "operationId": "postPoolsPoolFailoverCut",
        "parameters": {
         "pool": "$response.body#/id"
        }
       },
       "PostPoolsPoolFailoverDrill": {
        "operationId": "postPoolsPoolFailoverDrill",
        "parameters": {
         "pool": "$response.body#/id"
        }
       },
       "GetPoolsPoolThresholds": {
        "operationId": "getPoolsPoolThresholds",
        "parameters": {
         "pool": "$response.body#/id"
        }
       },
       "PutPoolsPoolThresholdsMetric": {
        "operationId": "putPoolsPoolThresholdsMetric",
        "parameters": {
         "pool": "$response.body#/id"
        }
       },
       "DeletePoolsPoolThresholdsMetric": {
        "operationId": "deletePoolsPoolThresholdsMetric",
        "parameters": {
         "pool": "$response.body#/id"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     }
    },
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/CreatePoolRequest"
       }
      }
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/pools/{pool}": {
   "get": {
    "summary": "A pool.",
    "tags": [
     "pools"
    ],
    "operationId": "getPoolsPool",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/PoolView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "pool",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The pool's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   },
   "patch": {
    "summary": "Rename a pool.",
    "tags": [
     "pools"
    ],
    "operationId": "patchPoolsPool",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/PoolView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     }
    },
    "parameters": [
     {
      "name": "pool",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The pool's id."
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/RenamePoolRequest"
       }
      }
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   },
   "delete": {
    "summary": "Delete a pool with its members, jobs and heartbeats.",
    "tags": [
     "pools"
    ],
    "operationId": "deletePoolsPool",
    "responses": {
     "204": {
      "description": "Deleted."
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "pool",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The pool's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/pools/{pool}/members": {
   "get": {
    "summary": "A pool's members.",
    "tags": [
     "members"
    ],
    "operationId": "getPoolsPoolMembers",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/MemberView"
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "pool",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The pool's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   },
   "post": {
    "summary": "Add a member: its enrollment secret and install command (shown once).",
    "tags": [
     "members"
    ],
    "operationId": "postPoolsPoolMembers",
    "responses": {
     "201": {
      "description": "Created",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/MemberEnrollment"
        }
       }
      },
      "links": {
       "GetMembersMember": {
        "operationId": "getMembersMember",
        "parameters": {
         "member": "$response.body#/member/id"
        }
       },
       "PatchMembersMember": {
        "operationId": "patchMembersMember",
        "parameters": {
         "member": "$response.body#/member/id"
        }
       },
       "DeleteMembersMember": {
        "operationId": "deleteMembersMember",
        "parameters": {
         "member": "$response.body#/member/id"
        }
       },
       "PostMembersMemberRotatesecret": {
        "operationId": "postMembersMemberRotatesecret",
        "parameters": {
         "member": "$response.body#/member/id"
        }
       },
       "GetMembersMemberHeartbeats": {
        "operationId": "getMembersMemberHeartbeats",
        "parameters": {
         "member": "$response.body#/member/id"
        }
       },
       "GetMembersMemberReport": {
        "operationId": "getMembersMemberReport",
        "parameters": {
         "member": "$response.body#/member/id"
        }
       },
       "GetMembersMemberJobs": {
        "operationId": "getMembersMemberJobs",
        "parameters": {
         "member": "$response.body#/member/id"
        }
       },
       "PostMembersMemberJobs": {
        "operationId": "postMembersMemberJobs",
        "parameters": {
         "member": "$response.body#/member/id"
        }
       },
       "GetMembersMemberBackups": {
        "operationId": "getMembersMemberBackups",
        "parameters": {
         "member": "$response.body#/member/id"
        }
       },
       "GetMembersMemberBackuppolicy": {
        "operationId": "getMembersMemberBackuppolicy",
        "parameters": {
         "member": "$response.body#/member/id"
        }
       },
       "PutMembersMemberBackuppolicy": {
        "operationId": "putMembersMemberBackuppolicy",
        "parameters": {
         "member": "$response.body#/member/id"
        }
       },
       "PostMembersMemberMakeactive": {
        "operationId": "postMembersMemberMakeactive",
        "parameters": {
         "member": "$response.body#/member/id"
        }
       },
       "PatchMembersMemberFailover": {
        "operationId": "patchMembersMemberFailover",
        "parameters": {
         "member": "$response.body#/member/id"
        }
       },
       "PostMembersMemberRecipesRecipeRun": {
        "operationId": "postMembersMemberRecipesRecipeRun",
        "parameters": {
         "member": "$response.body#/member/id"
        }
       },
       "PostMembersMemberRecipesRecipeDisable": {
        "operationId": "postMembersMemberRecipesRecipeDisable",
        "parameters": {
         "member": "$response.body#/member/id"
        }
       },
       "GetMembersMemberReciperuns": {
        "operationId": "getMembersMemberReciperuns",
        "parameters": {
         "member": "$response.body#/member/id"
        }
       },
       "GetMembersMemberSchedules": {
        "operationId": "getMembersMemberSchedules",
        "parameters": {
         "member": "$response.body#/member/id"
        }
       },
       "PostMembersMemberSchedules": {
        "operationId": "postMembersMemberSchedules",
        "parameters": {
         "member": "$response.body#/member/id"
        }
       },
       "GetMembersMemberThresholds": {
        "operationId": "getMembersMemberThresholds",
        "parameters": {
         "member": "$response.body#/member/id"
        }
       },
       "PutMembersMemberThresholdsMetric": {
        "operationId": "putMembersMemberThresholdsMetric",
        "parameters": {
         "member": "$response.body#/member/id"
        }
       },
       "DeleteMembersMemberThresholdsMetric": {
        "operationId": "deleteMembersMemberThresholdsMetric",
        "parameters": {
         "member": "$response.body#/member/id"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     }
    },
    "parameters": [
     {
      "name": "pool",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The pool's id."
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/CreateMemberRequest"
       }
      }
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/pools/{pool}/clusters": {
   "get": {
    "summary": "The pool's database clusters as its members report them: Galera members grouped by cluster state UUID, with quorum and disagreement warnings.",
    "tags": [
     "pools"
    ],
    "operationId": "getPoolsPoolClusters",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/PoolClustersView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "pool",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The pool's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/pools/{pool}/jobs": {
   "get": {
    "summary": "A pool's jobs, newest first.",
    "tags": [
     "jobs"
    ],
    "operationId": "getPoolsPoolJobs",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/JobView"
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "pool",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The pool's id."
     },
     {
      "name": "limit",
      "in": "query",
      "required": false,
      "schema": {
       "type": "integer"
      },
      "description": "How many, newest first: 1–1000 (clamped), default 50."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/members": {
   "get": {
    "summary": "All members.",
    "tags": [
     "members"
    ],
    "operationId": "getMembers",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/MemberView"
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/members/{member}": {
   "get": {
    "summary": "A member.",
    "tags": [
     "members"
    ],
    "operationId": "getMembersMember",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/MemberView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The member's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   },
   "patch": {
    "summary": "Change a member's hostname or allowed IPs.",
    "tags": [
     "members"
    ],
    "operationId": "patchMembersMember",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/MemberView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The member's id."
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/UpdateMemberRequest"
       }
      }
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   },
   "delete": {
    "summary": "Remove a member.",
    "tags": [
     "members"
    ],
    "operationId": "deleteMembersMember",
    "responses": {
     "204": {
      "description": "Deleted."
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The member's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/members/{member}/rotate-secret": {
   "post": {
    "summary": "A new enrollment secret (the old one stops working).",
    "tags": [
     "members"
    ],
    "operationId": "postMembersMemberRotatesecret",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/MemberEnrollment"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The member's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/members/{member}/heartbeats": {
   "get": {
    "summary": "Sampled heartbeat history, newest first.",
    "tags": [
     "members"
    ],
    "operationId": "getMembersMemberHeartbeats",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/HeartbeatRecord"
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The member's id."
     },
     {
      "name": "limit",
      "in": "query",
      "required": false,
      "schema": {
       "type": "integer"
      },
      "description": "How many, newest first: 1–1000 (clamped), default 50."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/members/{member}/report": {
   "get": {
    "summary": "The latest full report (404 before the first heartbeat).",
    "tags": [
     "members"
    ],
    "operationId": "getMembersMemberReport",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/HeartbeatRecord"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The member's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/members/{member}/jobs": {
   "get": {
    "summary": "A member's jobs, newest first.",
    "tags": [
     "jobs"
    ],
    "operationId": "getMembersMemberJobs",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/JobView"
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The member's id."
     },
     {
      "name": "limit",
      "in": "query",
      "required": false,
      "schema": {
       "type": "integer"
      },
      "description": "How many, newest first: 1–1000 (clamped), default 50."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   },
   "post": {
    "summary": "Enqueue a job (the command and its parameters are validated here).",
    "tags": [
     "jobs"
    ],
    "operationId": "postMembersMemberJobs",
    "responses": {
     "201": {
      "description": "Created",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/JobView"
        }
       }
      },
      "links": {
       "GetJobsJob": {
        "operationId": "getJobsJob",
        "parameters": {
         "job": "$response.body#/id"
        }
       },
       "PostJobsJobCancel": {
        "operationId": "postJobsJobCancel",
        "parameters": {
         "job": "$response.body#/id"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "403": {
      "$ref": "#/components/responses/E403"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The member's id."
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/EnqueueJobRequest"
       }
      }
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/jobs": {
   "get": {
    "summary": "Jobs, newest first.",
    "tags": [
     "jobs"
    ],
    "operationId": "getJobs",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/JobView"
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "limit",
      "in": "query",
      "required": false,
      "schema": {
       "type": "integer"
      },
      "description": "How many, newest first: 1–1000 (clamped), default 50."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/jobs/{job}": {
   "get": {
    "summary": "A job with its timeline.",
    "tags": [
     "jobs"
    ],
    "operationId": "getJobsJob",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/JobView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "job",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The job's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/jobs/{job}/cancel": {
   "post": {
    "summary": "Cancel a job (final on every path).",
    "tags": [
     "jobs"
    ],
    "operationId": "postJobsJobCancel",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/JobView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     }
    },
    "parameters": [
     {
      "name": "job",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The job's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/members/{member}/backups": {
   "get": {
    "summary": "A member's snapshots.",
    "tags": [
     "backups"
    ],
    "operationId": "getMembersMemberBackups",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/SnapshotView"
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "503": {
      "$ref": "#/components/responses/E503"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The member's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/members/{member}/backup-policy": {
   "get": {
    "summary": "A member's retention policy.",
    "tags": [
     "backups"
    ],
    "operationId": "getMembersMemberBackuppolicy",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/BackupPolicyView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "503": {
      "$ref": "#/components/responses/E503"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The member's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   },
   "put": {
    "summary": "Set a member's retention policy.",
    "tags": [
     "backups"
    ],
    "operationId": "putMembersMemberBackuppolicy",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/BackupPolicyView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     },
     "503": {
      "$ref": "#/components/responses/E503"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The member's id."
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/BackupPolicyView"
       }
      }
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/backups/{snapshot}": {
   "get": {
    "summary": "A snapshot.",
    "tags": [
     "backups"
    ],
    "operationId": "getBackupsSnapshot",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/SnapshotView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "503": {
      "$ref": "#/components/responses/E503"
     }
    },
    "parameters": [
     {
      "name": "snapshot",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      },
      "description": "Snapshot id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   },
   "delete": {
    "summary": "Delete a snapshot.",
    "tags": [
     "backups"
    ],
    "operationId": "deleteBackupsSnapshot",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "object",
         "properties": {
          "deleted": {
           "type": "boolean"
          }
         },
         "required": [
          "deleted"
         ]
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "503": {
      "$ref": "#/components/responses/E503"
     }
    },
    "parameters": [
     {
      "name": "snapshot",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      },
      "description": "Snapshot id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/backups/{snapshot}/restore": {
   "post": {
    "summary": "Restore a snapshot: enqueues the restore job.",
    "tags": [
     "backups"
    ],
    "operationId": "postBackupsSnapshotRestore",
    "responses": {
     "201": {
      "description": "Created",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/JobView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "403": {
      "$ref": "#/components/responses/E403"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     },
     "503": {
      "$ref": "#/components/responses/E503"
     }
    },
    "parameters": [
     {
      "name": "snapshot",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      },
      "description": "Snapshot id."
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/SnapshotRestoreRequest"
       }
      }
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/backup-quota": {
   "get": {
    "summary": "This account's backup quota and use.",
    "tags": [
     "backups"
    ],
    "operationId": "getBackupquota",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/BackupQuotaView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "503": {
      "$ref": "#/components/responses/E503"
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/accounts/{account}/backup-quota": {
   "get": {
    "summary": "An account's backup quota and use.",
    "tags": [
     "backups"
    ],
    "operationId": "getAccountsAccountBackupquota",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/BackupQuotaView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "503": {
      "$ref": "#/components/responses/E503"
     }
    },
    "parameters": [
     {
      "name": "account",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The account's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   },
   "put": {
    "summary": "Set an account's backup quota (admin).",
    "tags": [
     "backups"
    ],
    "operationId": "putAccountsAccountBackupquota",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/BackupQuotaView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "403": {
      "$ref": "#/components/responses/E403"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     },
     "503": {
      "$ref": "#/components/responses/E503"
     }
    },
    "parameters": [
     {
      "name": "account",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The account's id."
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/SetBackupQuotaRequest"
       }
      }
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/dns/providers": {
   "get": {
    "summary": "DNS providers (secrets never come out).",
    "tags": [
     "failover"
    ],
    "operationId": "getDnsProviders",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/DNSProviderView"
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   },
   "post": {
    "summary": "Add a DNS provider.",
    "tags": [
     "failover"
    ],
    "operationId": "postDnsProviders",
    "responses": {
     "201": {
      "description": "Created",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/DNSProviderView"
        }
       }
      },
      "links": {
       "DeleteDnsProvidersProvider": {
        "operationId": "deleteDnsProvidersProvider",
        "parameters": {
         "provider": "$response.body#/id"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     }
    },
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/CreateDNSProviderRequest"
       }
      }
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/dns/providers/{provider}": {
   "delete": {
    "summary": "Remove a DNS provider (409 while a pool uses it).",
    "tags": [
     "failover"
    ],
    "operationId": "deleteDnsProvidersProvider",
    "responses": {
     "204": {
      "description": "Deleted."
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     }
    },
    "parameters": [
     {
      "name": "provider",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The DNS provider's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/pools/{pool}/failover": {
   "get": {
    "summary": "A pool's failover status: settings, readiness of each member, last event.",
    "tags": [
     "failover"
    ],
    "operationId": "getPoolsPoolFailover",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/FailoverStatusView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "pool",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The pool's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   },
   "patch": {
    "summary": "Change a pool's failover settings.",
    "tags": [
     "failover"
    ],
    "operationId": "patchPoolsPoolFailover",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/FailoverSettingsView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     }
    },
    "parameters": [
     {
      "name": "pool",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The pool's id."
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/UpdateFailoverSettingsRequest"
       }
      }
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/pools/{pool}/failover/events": {
   "get": {
    "summary": "A pool's failover events, newest first.",
    "tags": [
     "failover"
    ],
    "operationId": "getPoolsPoolFailoverEvents",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/FailoverEventView"
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "pool",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The pool's id."
     },
     {
      "name": "limit",
      "in": "query",
      "required": false,
      "schema": {
       "type": "integer"
      },
      "description": "How many, newest first: 1–1000 (clamped), default 50."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/pools/{pool}/failover/cut": {
   "post": {
    "summary": "Fail over now to the next ready standby.",
    "tags": [
     "failover"
    ],
    "operationId": "postPoolsPoolFailoverCut",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/FailoverEventView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "503": {
      "$ref": "#/components/responses/E503"
     }
    },
    "parameters": [
     {
      "name": "pool",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The pool's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/pools/{pool}/failover/drill": {
   "post": {
    "summary": "A drill: decide as a failover would, change nothing.",
    "tags": [
     "failover"
    ],
    "operationId": "postPoolsPoolFailoverDrill",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/FailoverEventView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "503": {
      "$ref": "#/components/responses/E503"
     }
    },
    "parameters": [
     {
      "name": "pool",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The pool's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/members/{member}/make-active": {
   "post": {
    "summary": "Point the pool's DNS at this member.",
    "tags": [
     "failover"
    ],
    "operationId": "postMembersMemberMakeactive",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/FailoverEventView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     },
     "503": {
      "$ref": "#/components/responses/E503"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The member's id."
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/MakeActiveRequest"
       }
      }
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/members/{member}/failover": {
   "patch": {
    "summary": "A member's failover priority and maintenance flag.",
    "tags": [
     "failover"
    ],
    "operationId": "patchMembersMemberFailover",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/MemberView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The member's id."
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/UpdateMemberFailoverRequest"
       }
      }
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/recipes": {
   "get": {
    "summary": "Recipes (those applicable to `member` when given).",
    "tags": [
     "recipes"
    ],
    "operationId": "getRecipes",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/Recipe"
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "query",
      "required": false,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "Only recipes this member can run."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/recipes/{recipe}": {
   "get": {
    "summary": "A recipe.",
    "tags": [
     "recipes"
    ],
    "operationId": "getRecipesRecipe",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Recipe"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "recipe",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      },
      "description": "Recipe id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/members/{member}/recipes/{recipe}/run": {
   "post": {
    "summary": "Run a recipe on a member.",
    "tags": [
     "recipes"
    ],
    "operationId": "postMembersMemberRecipesRecipeRun",
    "responses": {
     "201": {
      "description": "Created",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/RecipeRunView"
        }
       }
      },
      "links": {
       "GetReciperunsRun": {
        "operationId": "getReciperunsRun",
        "parameters": {
         "run": "$response.body#/id"
        }
       },
       "PostReciperunsRunCancel": {
        "operationId": "postReciperunsRunCancel",
        "parameters": {
         "run": "$response.body#/id"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "403": {
      "$ref": "#/components/responses/E403"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The member's id."
     },
     {
      "name": "recipe",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      },
      "description": "Recipe id."
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/RunRecipeRequest"
       }
      }
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/members/{member}/recipes/{recipe}/disable": {
   "post": {
    "summary": "Run a recipe's disable steps on a member.",
    "tags": [
     "recipes"
    ],
    "operationId": "postMembersMemberRecipesRecipeDisable",
    "responses": {
     "201": {
      "description": "Created",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/RecipeRunView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "403": {
      "$ref": "#/components/responses/E403"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The member's id."
     },
     {
      "name": "recipe",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      },
      "description": "Recipe id."
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/RunRecipeRequest"
       }
      }
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/members/{member}/recipe-runs": {
   "get": {
    "summary": "A member's recipe runs, newest first.",
    "tags": [
     "recipes"
    ],
    "operationId": "getMembersMemberReciperuns",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/RecipeRunView"
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The member's id."
     },
     {
      "name": "limit",
      "in": "query",
      "required": false,
      "schema": {
       "type": "integer"
      },
      "description": "How many, newest first: 1–1000 (clamped), default 50."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/recipe-runs/{run}": {
   "get": {
    "summary": "A recipe run.",
    "tags": [
     "recipes"
    ],
    "operationId": "getReciperunsRun",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/RecipeRunView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "run",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The recipe run's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/recipe-runs/{run}/cancel": {
   "post": {
    "summary": "Cancel a recipe run.",
    "tags": [
     "recipes"
    ],
    "operationId": "postReciperunsRunCancel",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/RecipeRunView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     }
    },
    "parameters": [
     {
      "name": "run",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The recipe run's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/schedules": {
   "get": {
    "summary": "Schedules.",
    "tags": [
     "schedules"
    ],
    "operationId": "getSchedules",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/ScheduleView"
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/members/{member}/schedules": {
   "get": {
    "summary": "A member's schedules.",
    "tags": [
     "schedules"
    ],
    "operationId": "getMembersMemberSchedules",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "$ref": "#/components/schemas/ScheduleView"
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The member's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   },
   "post": {
    "summary": "Schedule a command or a recipe.",
    "tags": [
     "schedules"
    ],
    "operationId": "postMembersMemberSchedules",
    "responses": {
     "201": {
      "description": "Created",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ScheduleView"
        }
       }
      },
      "links": {
       "GetSchedulesSchedule": {
        "operationId": "getSchedulesSchedule",
        "parameters": {
         "schedule": "$response.body#/id"
        }
       },
       "PatchSchedulesSchedule": {
        "operationId": "patchSchedulesSchedule",
        "parameters": {
         "schedule": "$response.body#/id"
        }
       },
       "DeleteSchedulesSchedule": {
        "operationId": "deleteSchedulesSchedule",
        "parameters": {
         "schedule": "$response.body#/id"
        }
       },
       "PostSchedulesScheduleEnable": {
        "operationId": "postSchedulesScheduleEnable",
        "parameters": {
         "schedule": "$response.body#/id"
        }
       },
       "PostSchedulesScheduleDisable": {
        "operationId": "postSchedulesScheduleDisable",
        "parameters": {
         "schedule": "$response.body#/id"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "403": {
      "$ref": "#/components/responses/E403"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The member's id."
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/CreateScheduleRequest"
       }
      }
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/schedules/{schedule}": {
   "get": {
    "summary": "A schedule.",
    "tags": [
     "schedules"
    ],
    "operationId": "getSchedulesSchedule",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ScheduleView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "schedule",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The schedule's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   },
   "patch": {
    "summary": "Change a schedule.",
    "tags": [
     "schedules"
    ],
    "operationId": "patchSchedulesSchedule",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ScheduleView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "403": {
      "$ref": "#/components/responses/E403"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     }
    },
    "parameters": [
     {
      "name": "schedule",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The schedule's id."
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/UpdateScheduleRequest"
       }
      }
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   },
   "delete": {
    "summary": "Delete a schedule.",
    "tags": [
     "schedules"
    ],
    "operationId": "deleteSchedulesSchedule",
    "responses": {
     "204": {
      "description": "Deleted."
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "schedule",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The schedule's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/schedules/{schedule}/enable": {
   "post": {
    "summary": "Enable a schedule.",
    "tags": [
     "schedules"
    ],
    "operationId": "postSchedulesScheduleEnable",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ScheduleView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "403": {
      "$ref": "#/components/responses/E403"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     }
    },
    "parameters": [
     {
      "name": "schedule",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The schedule's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/schedules/{schedule}/disable": {
   "post": {
    "summary": "Disable a schedule.",
    "tags": [
     "schedules"
    ],
    "operationId": "postSchedulesScheduleDisable",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ScheduleView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "403": {
      "$ref": "#/components/responses/E403"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "409": {
      "$ref": "#/components/responses/E409"
     }
    },
    "parameters": [
     {
      "name": "schedule",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The schedule's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/pools/{pool}/thresholds": {
   "get": {
    "summary": "A pool's alert thresholds: its own and (members) those in effect.",
    "tags": [
     "thresholds"
    ],
    "operationId": "getPoolsPoolThresholds",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ThresholdsView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "pool",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The pool's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/pools/{pool}/thresholds/{metric}": {
   "put": {
    "summary": "Set a pool's threshold for one metric.",
    "tags": [
     "thresholds"
    ],
    "operationId": "putPoolsPoolThresholdsMetric",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ThresholdsView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     }
    },
    "parameters": [
     {
      "name": "pool",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The pool's id."
     },
     {
      "name": "metric",
      "in": "path",
      "required": true,
      "schema": {
       "$ref": "#/components/schemas/ThresholdMetric"
      }
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/SetThresholdRequest"
       }
      }
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   },
   "delete": {
    "summary": "Remove a pool's threshold for one metric.",
    "tags": [
     "thresholds"
    ],
    "operationId": "deletePoolsPoolThresholdsMetric",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ThresholdsView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "pool",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The pool's id."
     },
     {
      "name": "metric",
      "in": "path",
      "required": true,
      "schema": {
       "$ref": "#/components/schemas/ThresholdMetric"
      }
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/members/{member}/thresholds": {
   "get": {
    "summary": "A member's alert thresholds: its own and (members) those in effect.",
    "tags": [
     "thresholds"
    ],
    "operationId": "getMembersMemberThresholds",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ThresholdsView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The member's id."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/members/{member}/thresholds/{metric}": {
   "put": {
    "summary": "Set a member's threshold for one metric.",
    "tags": [
     "thresholds"
    ],
    "operationId": "putMembersMemberThresholdsMetric",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ThresholdsView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     },
     "413": {
      "$ref": "#/components/responses/E413"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The member's id."
     },
     {
      "name": "metric",
      "in": "path",
      "required": true,
      "schema": {
       "$ref": "#/components/schemas/ThresholdMetric"
      }
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/SetThresholdRequest"
       }
      }
     }
    },
    "security": [
     {
      "operatorToken": []
     }
    ]
   },
   "delete": {
    "summary": "Remove a member's threshold for one metric.",
    "tags": [
     "thresholds"
    ],
    "operationId": "deleteMembersMemberThresholdsMetric",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ThresholdsView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "path",
      "required": true,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "The member's id."
     },
     {
      "name": "metric",
      "in": "path",
      "required": true,
      "schema": {
       "$ref": "#/components/schemas/ThresholdMetric"
      }
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  },
  "/api/v1/alerts": {
   "get": {
    "summary": "Threshold alerts firing, and recent history.",
    "tags": [
     "thresholds"
    ],
    "operationId": "getAlerts",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/AlertsView"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/E400"
     },
     "401": {
      "$ref": "#/components/responses/E401"
     },
     "404": {
      "$ref": "#/components/responses/E404"
     }
    },
    "parameters": [
     {
      "name": "member",
      "in": "query",
      "required": false,
      "schema": {
       "type": "integer",
       "format": "int64"
      },
      "description": "Only this member's."
     },
     {
      "name": "limit",
      "in": "query",
      "required": false,
      "schema": {
       "type": "integer"
      },
      "description": "How many, newest first: 1–1000 (clamped), default 50."
     }
    ],
    "security": [
     {
      "operatorToken": []
     }
    ]
   }
  }
 },
 "components": {
  "schemas": {
   "Error": {
    "type": "object",
    "properties": {
     "error": {
      "type": "string"
     }
    },
    "required": [
     "error"
    ],
    "description": "Every refusal: the status says what kind, `error` says why, for the person who caused it."
   },
   "JSONValue": {
    "description": "Any JSON value."
   },
   "PoolTemplate": {
    "type": "string",
    "enum": [
     "haproxy",
     "generic"
    ]
   },
   "LinuxFamily": {
    "type": "string",
    "enum": [
     "debian",
     "rhel"
    ]
   },
   "PoolView": {
    "type": "object",
    "properties": {
     "id": {
      "type": "integer",
      "format": "int64"
     },
     "name": {
      "type": "string"
     },
     "template": {
      "$ref": "#/components/schemas/PoolTemplate"
     },
     "createdAt": {
      "type": "number"
     },
     "memberCount": {
      "type": "integer"
     }
    },
    "required": [
     "id",
     "name",
     "template",
     "createdAt",
     "memberCount"
    ]
   },
   "CreatePoolRequest": {
    "type": "object",
    "properties": {
     "name": {
      "type": "string",
      "minLength": 1,
      "maxLength": 64,
      "pattern": "^[^\\u0000-\\u001f\\u007f]+$",
      "description": "1–64 characters, no control characters."
     },
     "template": {
      "$ref": "#/components/schemas/PoolTemplate"
     }
    },
    "required": [
     "name",
     "template"
    ]
   },
   "RenamePoolRequest": {
    "type": "object",
    "properties": {
     "name": {
      "type": "string",
      "minLength": 1,
      "maxLength": 64,
      "pattern": "^[^\\u0000-\\u001f\\u007f]+$",
      "description": "1–64 characters, no control characters."
     }
    },
    "required": [
     "name"
    ]
   },
   "CreateMemberRequest": {
    "type": "object",
    "properties": {
     "hostname": {
      "type": "string",
      "maxLength": 253,
      "pattern": "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$",
      "description": "An RFC 1123 host name (what `hostname` reports on the member)."
     },
     "allowedIPs": {
      "type": "array",
      "minItems": 1,
      "maxItems": 32,
      "items": {
       "type": "string",
       "format": "ipv4"
      },
      "description": "Source IPv4 addresses the member's agent may call from."
     },
     "family": {
      "$ref": "#/components/schemas/LinuxFamily"
     },
     "role": {
      "type": [
       "string",
       "null"
      ],
      "enum": [
       "haproxy-balancer",
       "generic-linux",
       null
      ],
      "description": "Default: haproxy-balancer in a haproxy pool, else generic-linux."
     }
    },
    "required": [
     "hostname",
     "allowedIPs",
     "family"
    ]
   },
   "UpdateMemberRequest": {
    "type": "object",
    "properties": {
     "hostname": {
      "type": [
       "string",
       "null"
      ],
      "maxLength": 253,
      "pattern": "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$",
      "description": "An RFC 1123 host name (what `hostname` reports on the member)."
     },
     "allowedIPs": {
      "type": [
       "array",
       "null"
      ],
      "minItems": 1,
      "maxItems": 32,
      "items": {
       "type": "string",
       "format": "ipv4"
      },
      "description": "Source IPv4 addresses the member's agent may call from."
     }
    }
   },
   "HeartbeatSummary": {
    "type": "object",
    "properties": {
     "receivedAt": {
      "type": "number"
     },
     "ageSec": {
      "type": "number"
     },
     "agentVersion": {
      "type": "string"
     },
     "sourceIP": {
      "type": "string"
     },
     "osFamily": {
      "type": "string"
     },
     "osPretty": {
      "type": "string"
     },
     "uptimeSec": {
      "type": "number"
     },
     "load1": {
      "type": "number"
     },
     "cpuPercent": {
      "type": [
       "number",
       "null"
      ]
     },
     "memoryUsedPercent": {
      "type": "number"
     },
     "publicIPv4": {
      "type": [
       "string",
       "null"
      ]
     },
     "stacks": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "commands": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "latestAgentVersion": {
      "type": [
       "string",
       "null"
      ]
     }
    },
    "required": [
     "receivedAt",
     "ageSec",
     "agentVersion",
     "sourceIP",
     "osFamily",
     "osPretty",
     "uptimeSec",
     "load1",
     "memoryUsedPercent",
     "stacks",
     "commands"
    ],
    "description": "The latest heartbeat's key facts."
   },
   "PoolClustersView": {
    "type": "object",
    "properties": {
     "poolId": {
      "type": "integer",
      "format": "int64"
     },
     "galera": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/GaleraClusterView"
      }
     },
     "warnings": {
      "type": "array",
      "items": {
       "type": "string"
      }
     }
    },
    "required": [
     "poolId",
     "galera",
     "warnings"
    ]
   },
   "GaleraClusterView": {
    "type": "object",
    "properties": {
     "clusterStateUUID": {
      "type": [
       "string",
       "null"
      ]
     },
     "status": {
      "type": "string",
      "description": "healthy | degraded | no quorum | unknown"
     },
     "nodes": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/GaleraNodeView"
      }
     },
     "warnings": {
      "type": "array",
      "items": {
       "type": "string"
      }
     }
    },
    "required": [
     "status",
     "nodes",
     "warnings"
    ]
   },
   "GaleraNodeView": {
    "type": "object",
    "properties": {
     "memberId": {
      "type": "integer",
      "format": "int64"
     },
     "hostname": {
      "type": "string"
     },
     "up": {
      "type": "boolean"
     },
     "clusterSize": {
      "type": [
       "integer",
       "null"
      ]
     },
     "clusterStatus": {
      "type": [
       "string",
       "null"
      ]
     },
     "localState": {
      "type": [
       "string",
       "null"
      ]
     },
     "confID": {
      "type": [
       "integer",
       "null"
      ]
     },
     "reportAgeSec": {
      "type": [
       "number",
       "null"
      ]
     }
    },
    "required": [
     "memberId",
     "hostname",
     "up"
    ]
   },
   "MemberView": {
    "type": "object",
    "properties": {
     "id": {
      "type": "integer",
      "format": "int64"
     },
     "poolId": {
      "type": "integer",
      "format": "int64"
     },
     "hostname": {
      "type": "string"
     },
     "allowedIPs": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "family": {
      "$ref": "#/components/schemas/LinuxFamily"
     },
     "role": {
      "type": "string"
     },
     "createdAt": {
      "type": "number"
     },
     "secretRotatedAt": {
      "type": "number"
     },
     "heartbeat": {
      "anyOf": [
       {
        "$ref": "#/components/schemas/HeartbeatSummary"
       },
       {
        "type": "null"
       }
      ]
     }
    },
    "required": [
     "id",
     "poolId",
     "hostname",
     "allowedIPs",
     "family",
     "role",
     "createdAt",
     "secretRotatedAt"
    ]
   },
   "MemberEnrollment": {
    "type": "object",
    "properties": {
     "member": {
      "$ref": "#/components/schemas/MemberView"
     },
     "enrollmentSecret": {
      "type": "string",
      "description": "Shown once: 48 hex digits."
     },
     "installCommand": {
      "type": "string"
     }
    },
    "required": [
     "member",
     "enrollmentSecret",
     "installCommand"
    ],
    "description": "Returned once when a member is added or its secret rotated."
   },
   "OSInfo": {
    "type": "object",
    "properties": {
     "family": {
      "type": "string"
     },
     "id": {
      "type": "string"
     },
     "versionID": {
      "type": "string"
     },
     "prettyName": {
      "type": "string"
     },
     "kernel": {
      "type": "string"
     }
    },
    "required": [
     "family",
     "id",
     "versionID",
     "prettyName",
     "kernel"
    ]
   },
   "MemoryInfo": {
    "type": "object",
    "properties": {
     "totalBytes": {
      "type": "integer",
      "minimum": 0
     },
     "availableBytes": {
      "type": "integer",
      "minimum": 0
     }
    },
    "required": [
     "totalBytes",
     "availableBytes"
    ]
   },
   "DiskInfo": {
    "type": "object",
    "properties": {
     "mount": {
      "type": "string"
     },
     "fsType": {
      "type": "string"
     },
     "totalBytes": {
      "type": "integer",
      "minimum": 0
     },
     "availableBytes": {
      "type": "integer",
      "minimum": 0
     }
    },
    "required": [
     "mount",
     "fsType",
     "totalBytes",
     "availableBytes"
    ]
   },
   "JobRef": {
    "type": "object",
    "properties": {
     "id": {
      "type": "integer",
      "format": "int64"
     },
     "attempt": {
      "type": "integer"
     }
    },
    "required": [
     "id",
     "attempt"
    ]
   },
   "AgentUpdateEvent": {
    "type": "object",
    "properties": {
     "id": {
      "type": "string"
     },
     "kind": {
      "type": "string",
      "enum": [
       "updated",
       "rolled_back",
       "refused",
       "interrupted"
      ]
     },
     "from": {
      "type": "string"
     },
     "to": {
      "type": [
       "string",
       "null"
      ]
     },
     "at": {
      "type": "number"
     },
     "message": {
      "type": "string"
     },
     "jobId": {
      "type": [
       "integer",
       "null"
      ],
      "format": "int64"
     }
    },
    "required": [
     "id",
     "kind",
     "from",
     "at",
     "message"
    ]
   },
   "HostReport": {
    "type": "object",
    "properties": {
     "hostname": {
      "type": "string"
     },
     "agentVersion": {
      "type": "string"
     },
     "protocolVersion": {
      "type": "integer",
      "description": "1"
     },
     "os": {
      "$ref": "#/components/schemas/OSInfo"
     },
     "uptimeSec": {
      "type": "number"
     },
     "load": {
      "type": "array",
      "items": {
       "type": "number"
      }
     },
     "cpuPercent": {
      "type": [
       "number",
       "null"
      ]
     },
     "cpuCount": {
      "type": "integer"
     },
     "memory": {
      "$ref": "#/components/schemas/MemoryInfo"
     },
     "disks": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/DiskInfo"
      }
     },
     "publicIPv4": {
      "type": [
       "string",
       "null"
      ]
     },
     "publicIPSource": {
      "type": [
       "string",
       "null"
      ]
     },
     "stacks": {
      "type": "object",
      "additionalProperties": {
       "description": "Any JSON value."
      }
     },
     "commands": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "jobsInFlight": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/JobRef"
      }
     },
     "updateEvents": {
      "type": [
       "array",
       "null"
      ],
      "items": {
       "$ref": "#/components/schemas/AgentUpdateEvent"
      }
     },
     "updateTrial": {
      "type": [
       "boolean",
       "null"
      ]
     },
     "hiddenStacks": {
      "type": [
       "object",
       "null"
      ],
      "description": "Why a plugin's stack is absent from stacks (plugin name → reason); older agents omit it.",
      "additionalProperties": {
       "type": "string"
      }
     }
    },
    "required": [
     "hostname",
     "agentVersion",
     "protocolVersion",
     "os",
     "uptimeSec",
     "load",
     "cpuCount",
     "memory",
     "disks",
     "stacks",
     "commands",
     "jobsInFlight"
    ],
    "description": "What an agent reports every heartbeat."
   },
   "HeartbeatRecord": {
    "type": "object",
    "properties": {
     "receivedAt": {
      "type": "number"
     },
     "sourceIP": {
      "type": "string"
     },
     "report": {
      "$ref": "#/components/schemas/HostReport"
     }
    },
    "required": [
     "receivedAt",
     "sourceIP",
     "report"
    ]
   },
   "JobState": {
    "type": "string",
    "enum": [
     "pending",
     "running",
     "completed",
     "failed",
     "cancelled"
    ]
   },
   "EnqueueJobRequest": {
    "type": "object",
    "properties": {
     "command": {
      "type": "string",
      "description": "A command id from GET /api/v1/commands, e.g. host.echo."
     },
     "params": {
      "anyOf": [
       {
        "description": "Any JSON value."
       },
       {
        "type": "null"
       }
      ]
     },
     "priority": {
      "type": [
       "integer",
       "null"
      ]
     },
     "maxAttempts": {
      "type": [
       "integer",
       "null"
      ]
     },
     "timeoutSec": {
      "type": [
       "integer",
       "null"
      ]
     },
     "checkMode": {
      "type": [
       "boolean",
       "null"
      ]
     }
    },
    "required": [
     "command"
    ]
   },
   "JobEventView": {
    "type": "object",
    "properties": {
     "at": {
      "type": "number"
     },
     "attempt": {
      "type": "integer"
     },
     "kind": {
      "type": "string"
     },
     "message": {
      "type": [
       "string",
       "null"
      ]
     }
    },
    "required": [
     "at",
     "attempt",
     "kind"
    ]
   },
   "JobView": {
    "type": "object",
    "properties": {
     "id": {
      "type": "integer",
      "format": "int64"
     },
     "poolId": {
      "type": "integer",
      "format": "int64"
     },
     "memberId": {
      "type": "integer",
      "format": "int64"
     },
     "hostname": {
      "type": "string"
     },
     "command": {
      "type": "string"
     },
     "params": {
      "description": "Any JSON value."
     },
     "state": {
      "$ref": "#/components/schemas/JobState"
     },
     "attempt": {
      "type": "integer"
     },
     "maxAttempts": {
      "type": "integer"
     },
     "priority": {
      "type": "integer"
     },
     "timeoutSec": {
      "type": "integer"
     },
     "checkMode": {
      "type": "boolean"
     },
     "cancelRequested": {
      "type": "boolean"
     },
     "createdAt": {
      "type": "number"
     },
     "startedAt": {
      "type": [
       "number",
       "null"
      ]
     },
     "finishedAt": {
      "type": [
       "number",
       "null"
      ]
     },
     "exitCode": {
      "type": [
       "integer",
       "null"
      ]
     },
     "changed": {
      "type": [
       "boolean",
       "null"
      ]
     },
     "error": {
      "type": [
       "string",
       "null"
      ]
     },
     "progressMessage": {
      "type": [
       "string",
       "null"
      ]
     },
     "progressPercent": {
      "type": [
       "number",
       "null"
      ]
     },
     "output": {
      "type": [
       "string",
       "null"
      ]
     },
     "result": {
      "anyOf": [
       {
        "description": "Any JSON value."
       },
       {
        "type": "null"
       }
      ]
     },
     "events": {
      "type": [
       "array",
       "null"
      ],
      "items": {
       "$ref": "#/components/schemas/JobEventView"
      }
     },
     "recipeRunId": {
      "type": [
       "integer",
       "null"
      ],
      "format": "int64"
     },
     "recipeStep": {
      "type": [
       "integer",
       "null"
      ]
     }
    },
    "required": [
     "id",
     "poolId",
     "memberId",
     "hostname",
     "command",
     "params",
     "state",
     "attempt",
     "maxAttempts",
     "priority",
     "timeoutSec",
     "checkMode",
     "cancelRequested",
     "createdAt"
    ]
   },
   "AccountView": {
    "type": "object",
    "properties": {
     "id": {
      "type": "integer",
      "format": "int64"
     },
     "name": {
      "type": "string"
     },
     "isAdmin": {
      "type": "boolean"
     },
     "createdAt": {
      "type": "number"
     }
    },
    "required": [
     "id",
     "name",
     "isAdmin",
     "createdAt"
    ]
   },
   "CreateAccountRequest": {
    "type": "object",
    "properties": {
     "name": {
      "type": "string",
      "minLength": 1,
      "maxLength": 64,
      "pattern": "^[^\\u0000-\\u001f\\u007f]+$",
      "description": "1–64 characters, no control characters."
     },
     "isAdmin": {
      "type": [
       "boolean",
       "null"
      ]
     }
    },
    "required": [
     "name"
    ]
   },
   "WebUserView": {
    "type": "object",
    "properties": {
     "id": {
      "type": "integer",
      "format": "int64"
     },
     "accountId": {
      "type": "integer",
      "format": "int64"
     },
     "username": {
      "type": "string"
     },
     "createdAt": {
      "type": "number"
     }
    },
    "required": [
     "id",
     "accountId",
     "username",
     "createdAt"
    ]
   },
   "CreateWebUserRequest": {
    "type": "object",
    "properties": {
     "username": {
      "type": "string"
     },
     "password": {
      "type": "string",
      "description": "12–72 bytes; stored as a bcrypt hash only."
     },
     "account": {
      "type": [
       "integer",
       "null"
      ],
      "format": "int64",
      "description": "Admin tokens only: the account to create the user in."
     }
    },
    "required": [
     "username",
     "password"
    ]
   },
   "CreateTokenRequest": {
    "type": "object",
    "properties": {
     "label": {
      "type": [
       "string",
       "null"
      ]
     }
    }
   },
   "TokenIssued": {
    "type": "object",
    "properties": {
     "account": {
      "$ref": "#/components/schemas/AccountView"
     },
     "token": {
      "type": "string",
      "description": "Shown once."
     }
    },
    "required": [
     "account",
     "token"
    ]
   },
   "AuditEntry": {
    "type": "object",
    "properties": {
     "at": {
      "type": "number"
     },
     "action": {
      "type": "string"
     },
     "target": {
      "type": "string"
     },
     "detail": {
      "type": [
       "string",
       "null"
      ]
     }
    },
    "required": [
     "at",
     "action",
     "target"
    ]
   },
   "CommandInfo": {
    "type": "object",
    "properties": {
     "id": {
      "type": "string"
     },
     "stack": {
      "type": "string"
     },
     "summary": {
      "type": "string"
     },
     "requiresRoot": {
      "type": "boolean"
     },
     "lock": {
      "type": [
       "string",
       "null"
      ]
     },
     "supportsCheckMode": {
      "type": "boolean"
     },
     "parameters": {
      "type": "string"
     },
     "example": {
      "anyOf": [
       {
        "description": "Any JSON value."
       },
       {
        "type": "null"
       }
      ]
     },
     "snapshotUse": {
      "type": [
       "string",
       "null"
      ],
      "enum": [
       "creates",
       "restores",
       null
      ]
     }
    },
    "required": [
     "id",
     "stack",
     "summary",
     "requiresRoot",
     "supportsCheckMode",
     "parameters"
    ]
   },
   "DNSProviderKind": {
    "type": "string",
    "enum": [
     "rfc2136",
     "cloudflare",
     "whm"
    ]
   },
   "DNSProviderView": {
    "type": "object",
    "properties": {
     "id": {
      "type": "integer",
      "format": "int64"
     },
     "name": {
      "type": "string"
     },
     "kind": {
      "$ref": "#/components/schemas/DNSProviderKind"
     },
     "settings": {
      "type": "object",
      "additionalProperties": {
       "type": "string"
      }
     },
     "createdAt": {
      "type": "number"
     },
     "pools": {
      "type": "array",
      "items": {
       "type": "integer",
       "format": "int64"
      }
     }
    },
    "required": [
     "id",
     "name",
     "kind",
     "settings",
     "createdAt",
     "pools"
    ]
   },
   "CreateDNSProviderRequest": {
    "type": "object",
    "properties": {
     "name": {
      "type": "string"
     },
     "kind": {
      "$ref": "#/components/schemas/DNSProviderKind"
     },
     "settings": {
      "type": "object",
      "additionalProperties": {
       "type": "string"
      }
     },
     "secret": {
      "type": "string",
      "description": "Stored sealed; never returned."
     }
    },
    "required": [
     "name",
     "kind",
     "settings",
     "secret"
    ]
   },
   "FailoverSettingsView": {
    "type": "object",
    "properties": {
     "poolId": {
      "type": "integer",
      "format": "int64"
     },
     "hostname": {
      "type": [
       "string",
       "null"
      ]
     },
     "providerId": {
      "type": [
       "integer",
       "null"
      ],
      "format": "int64"
     },
     "ttl": {
      "type": "integer"
     },
     "proxied": {
      "type": "boolean"
     },
     "autoFailover": {
      "type": "boolean"
     },
     "delaySec": {
      "type": "integer"
     },
     "minSpacingSec": {
      "type": "integer"
     },
     "dynamicDNS": {
      "type": "boolean"
     },
     "allowPrivateIPs": {
      "type": "boolean"
     },
     "alertEmails": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "webhookURL": {
      "type": [
       "string",
       "null"
      ]
     },
     "webhookSecretSet": {
      "type": "boolean"
     },
     "activeMemberId": {
      "type": [
       "integer",
       "null"
      ],
      "format": "int64"
     },
     "activeIP": {
      "type": [
       "string",
       "null"
      ]
     },
     "lastFailoverAt": {
      "type": [
       "number",
       "null"
      ]
     },
     "warnings": {
      "type": "array",
      "items": {
       "type": "string"
      }
     }
    },
    "required": [
     "poolId",
     "ttl",
     "proxied",
     "autoFailover",
     "delaySec",
     "minSpacingSec",
     "dynamicDNS",
     "allowPrivateIPs",
     "alertEmails",
     "webhookSecretSet",
     "warnings"
    ]
   },
   "UpdateFailoverSettingsRequest": {
    "type": "object",
    "properties": {
     "hostname": {
      "type": [
       "string",
       "null"
      ]
     },
     "providerId": {
      "type": [
       "integer",
       "null"
      ],
      "format": "int64"
     },
     "ttl": {
      "type": [
       "integer",
       "null"
      ]
     },
     "proxied": {
      "type": [
       "boolean",
       "null"
      ]
     },
     "autoFailover": {
      "type": [
       "boolean",
       "null"
      ]
     },
     "delaySec": {
      "type": [
       "integer",
       "null"
      ]
     },
     "minSpacingSec": {
      "type": [
       "integer",
       "null"
      ]
     },
     "dynamicDNS": {
      "type": [
       "boolean",
       "null"
      ]
     },
     "allowPrivateIPs": {
      "type": [
       "boolean",
       "null"
      ]
     },
     "alertEmails": {
      "type": [
       "array",
       "null"
      ],
      "items": {
       "type": "string"
      }
     },
     "webhookURL": {
      "type": [
       "string",
       "null"
      ]
     },
     "webhookSecret": {
      "type": [
       "string",
       "null"
      ]
     }
    }
   },
   "UpdateMemberFailoverRequest": {
    "type": "object",
    "properties": {
     "priority": {
      "type": [
       "integer",
       "null"
      ]
     },
     "maintenance": {
      "type": [
       "boolean",
       "null"
      ]
     }
    }
   },
   "MemberReadinessView": {
    "type": "object",
    "properties": {
     "memberId": {
      "type": "integer",
      "format": "int64"
     },
     "hostname": {
      "type": "string"
     },
     "role": {
      "type": "string",
      "enum": [
       "active",
       "standby"
      ]
     },
     "priority": {
      "type": "integer"
     },
     "maintenance": {
      "type": "boolean"
     },
     "ok": {
      "type": "boolean"
     },
     "reason": {
      "type": "string"
     },
     "heartbeatAgeSec": {
      "type": [
       "number",
       "null"
      ]
     },
     "publicIPv4": {
      "type": [
       "string",
       "null"
      ]
     }
    },
    "required": [
     "memberId",
     "hostname",
     "role",
     "priority",
     "maintenance",
     "ok",
     "reason"
    ]
   },
   "FailoverEventView": {
    "type": "object",
    "properties": {
     "id": {
      "type": "integer",
      "format": "int64"
     },
     "poolId": {
      "type": "integer",
      "format": "int64"
     },
     "at": {
      "type": "number"
     },
     "kind": {
      "type": "string"
     },
     "reason": {
      "type": [
       "string",
       "null"
      ]
     },
     "fromMemberId": {
      "type": [
       "integer",
       "null"
      ],
      "format": "int64"
     },
     "toMemberId": {
      "type": [
       "integer",
       "null"
      ],
      "format": "int64"
     },
     "fromIP": {
      "type": [
       "string",
       "null"
      ]
     },
     "toIP": {
      "type": [
       "string",
       "null"
      ]
     },
     "unhealthySince": {
      "type": [
       "number",
       "null"
      ]
     },
     "detectedAt": {
      "type": [
       "number",
       "null"
      ]
     },
     "dnsWrittenAt": {
      "type": [
       "number",
       "null"
      ]
     },
     "providerReply": {
      "type": [
       "string",
       "null"
      ]
     },
     "verified": {
      "type": [
       "boolean",
       "null"
      ]
     },
     "error": {
      "type": [
       "string",
       "null"
      ]
     },
     "fencingToken": {
      "type": [
       "integer",
       "null"
      ],
      "format": "int64"
     },
     "decidedBy": {
      "type": [
       "string",
       "null"
      ]
     },
     "detail": {
      "anyOf": [
       {
        "description": "Any JSON value."
       },
       {
        "type": "null"
       }
      ]
     }
    },
    "required": [
     "id",
     "poolId",
     "at",
     "kind"
    ]
   },
   "FailoverStatusView": {
    "type": "object",
    "properties": {
     "pool": {
      "$ref": "#/components/schemas/PoolView"
     },
     "settings": {
      "$ref": "#/components/schemas/FailoverSettingsView"
     },
     "members": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/MemberReadinessView"
      }
     },
     "nextStandbyId": {
      "type": [
       "integer",
       "null"
      ],
      "format": "int64"
     },
     "lastEvent": {
      "anyOf": [
       {
        "$ref": "#/components/schemas/FailoverEventView"
       },
       {
        "type": "null"
       }
      ]
     }
    },
    "required": [
     "pool",
     "settings",
     "members"
    ]
   },
   "MakeActiveRequest": {
    "type": "object",
    "properties": {
     "force": {
      "type": [
       "boolean",
       "null"
      ]
     }
    }
   },
   "RecipeParameter": {
    "type": "object",
    "properties": {
     "name": {
      "type": "string"
     },
     "type": {
      "type": "string",
      "enum": [
       "string",
       "int",
       "number",
       "bool"
      ]
     },
     "defaultValue": {
      "anyOf": [
       {
        "description": "Any JSON value."
       },
       {
        "type": "null"
       }
      ]
     },
     "description": {
      "type": [
       "string",
       "null"
      ]
     },
     "example": {
      "anyOf": [
       {
        "description": "Any JSON value."
       },
       {
        "type": "null"
       }
      ]
     }
    },
    "required": [
     "name",
     "type"
    ]
   },
   "RecipeStep": {
    "type": "object",
    "properties": {
     "name": {
      "type": "string"
     },
     "run": {
      "type": "string"
     },
     "with": {
      "description": "Any JSON value."
     },
     "timeoutSec": {
      "type": [
       "integer",
       "null"
      ]
     },
     "onFailure": {
      "type": "string",
      "enum": [
       "abort",
       "continue"
      ]
     },
     "line": {
      "type": "integer"
     }
    },
    "required": [
     "name",
     "run",
     "with",
     "onFailure",
     "line"
    ]
   },
   "Recipe": {
    "type": "object",
    "properties": {
     "id": {
      "type": "string"
     },
     "title": {
      "type": "string"
     },
     "description": {
      "type": "string"
     },
     "templates": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "stacks": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "parameters": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/RecipeParameter"
      }
     },
     "steps": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/RecipeStep"
      }
     },
     "disable": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/RecipeStep"
      }
     },
     "check": {
      "anyOf": [
       {
        "$ref": "#/components/schemas/RecipeStep"
       },
       {
        "type": "null"
       }
      ]
     },
     "file": {
      "type": "string"
     }
    },
    "required": [
     "id",
     "title",
     "description",
     "templates",
     "stacks",
     "parameters",
     "steps",
     "disable",
     "file"
    ]
   },
   "RunRecipeRequest": {
    "type": "object",
    "properties": {
     "params": {
      "type": [
       "object",
       "null"
      ],
      "additionalProperties": {
       "description": "Any JSON value."
      }
     }
    }
   },
   "RecipeRunStepView": {
    "type": "object",
    "properties": {
     "index": {
      "type": "integer"
     },
     "name": {
      "type": "string"
     },
     "command": {
      "type": "string"
     },
     "jobId": {
      "type": [
       "integer",
       "null"
      ],
      "format": "int64"
     },
     "state": {
      "anyOf": [
       {
        "$ref": "#/components/schemas/JobState"
       },
       {
        "type": "null"
       }
      ]
     },
     "error": {
      "type": [
       "string",
       "null"
      ]
     }
    },
    "required": [
     "index",
     "name",
     "command"
    ]
   },
   "RecipeRunView": {
    "type": "object",
    "properties": {
     "id": {
      "type": "integer",
      "format": "int64"
     },
     "memberId": {
      "type": "integer",
      "format": "int64"
     },
     "recipeId": {
      "type": "string"
     },
     "mode": {
      "type": "string"
     },
     "state": {
      "type": "string",
      "enum": [
       "running",
       "completed",
       "failed",
       "cancelled"
      ]
     },
     "currentStep": {
      "type": "integer"
     },
     "steps": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/RecipeRunStepView"
      }
     },
     "failedStep": {
      "type": [
       "integer",
       "null"
      ]
     },
     "error": {
      "type": [
       "string",
       "null"
      ]
     },
     "createdAt": {
      "type": "number"
     },
     "finishedAt": {
      "type": [
       "number",
       "null"
      ]
     }
    },
    "required": [
     "id",
     "memberId",
     "recipeId",
     "mode",
     "state",
     "currentStep",
     "steps",
     "createdAt"
    ]
   },
   "MissedRunPolicy": {
    "type": "string",
    "enum": [
     "run_once",
     "skip"
    ]
   },
   "ScheduleView": {
    "type": "object",
    "properties": {
     "id": {
      "type": "integer",
      "format": "int64"
     },
     "memberId": {
      "type": "integer",
      "format": "int64"
     },
     "name": {
      "type": "string"
     },
     "cron": {
      "type": "string"
     },
     "command": {
      "type": [
       "string",
       "null"
      ]
     },
     "recipe": {
      "type": [
       "string",
       "null"
      ]
     },
     "params": {
      "description": "Any JSON value."
     },
     "enabled": {
      "type": "boolean"
     },
     "missed": {
      "$ref": "#/components/schemas/MissedRunPolicy"
     },
     "nextRunAt": {
      "type": [
       "number",
       "null"
      ]
     },
     "lastRunAt": {
      "type": [
       "number",
       "null"
      ]
     },
     "lastJobId": {
      "type": [
       "integer",
       "null"
      ],
      "format": "int64"
     },
     "lastRecipeRunId": {
      "type": [
       "integer",
       "null"
      ],
      "format": "int64"
     },
     "lastError": {
      "type": [
       "string",
       "null"
      ]
     }
    },
    "required": [
     "id",
     "memberId",
     "name",
     "cron",
     "params",
     "enabled",
     "missed"
    ]
   },
   "CreateScheduleRequest": {
    "type": "object",
    "properties": {
     "name": {
      "type": "string"
     },
     "cron": {
      "type": "string",
      "description": "Five-field cron expression (UTC)."
     },
     "command": {
      "type": [
       "string",
       "null"
      ]
     },
     "recipe": {
      "type": [
       "string",
       "null"
      ]
     },
     "params": {
      "anyOf": [
       {
        "description": "Any JSON value."
       },
       {
        "type": "null"
       }
      ]
     },
     "enabled": {
      "type": [
       "boolean",
       "null"
      ]
     },
     "missed": {
      "anyOf": [
       {
        "$ref": "#/components/schemas/MissedRunPolicy"
       },
       {
        "type": "null"
       }
      ]
     }
    },
    "required": [
     "name",
     "cron"
    ],
    "description": "Exactly one of command and recipe."
   },
   "UpdateScheduleRequest": {
    "type": "object",
    "properties": {
     "name": {
      "type": [
       "string",
       "null"
      ]
     },
     "cron": {
      "type": [
       "string",
       "null"
      ]
     },
     "params": {
      "anyOf": [
       {
        "description": "Any JSON value."
       },
       {
        "type": "null"
       }
      ]
     },
     "enabled": {
      "type": [
       "boolean",
       "null"
      ]
     },
     "missed": {
      "anyOf": [
       {
        "$ref": "#/components/schemas/MissedRunPolicy"
       },
       {
        "type": "null"
       }
      ]
     }
    }
   },
   "SnapshotPart": {
    "type": "object",
    "properties": {
     "index": {
      "type": "integer"
     },
     "size": {
      "type": "integer",
      "format": "int64"
     },
     "sha256": {
      "type": "string"
     }
    },
    "required": [
     "index",
     "size",
     "sha256"
    ]
   },
   "SnapshotBeginRequest": {
    "type": "object",
    "properties": {
     "jobId": {
      "type": "integer",
      "format": "int64"
     },
     "attempt": {
      "type": "integer"
     },
     "scope": {
      "type": "string"
     }
    },
    "required": [
     "jobId",
     "attempt",
     "scope"
    ]
   },
   "SnapshotBeginReply": {
    "type": "object",
    "properties": {
     "snapshotId": {
      "type": "string"
     },
     "data": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/SnapshotPart"
      }
     },
     "manifest": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/SnapshotPart"
      }
     }
    },
    "required": [
     "snapshotId",
     "data",
     "manifest"
    ]
   },
   "SnapshotCommitRequest": {
    "type": "object",
    "properties": {
     "jobId": {
      "type": "integer",
      "format": "int64"
     },
     "attempt": {
      "type": "integer"
     },
     "data": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/SnapshotPart"
      }
     },
     "manifest": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/SnapshotPart"
      }
     },
     "entries": {
      "type": "integer"
     },
     "sourceBytes": {
      "type": "integer",
      "format": "int64"
     }
    },
    "required": [
     "jobId",
     "attempt",
     "data",
     "manifest",
     "entries",
     "sourceBytes"
    ]
   },
   "SnapshotView": {
    "type": "object",
    "properties": {
     "id": {
      "type": "string"
     },
     "memberId": {
      "type": "integer",
      "format": "int64"
     },
     "memberHostname": {
      "type": "string"
     },
     "accountId": {
      "type": "integer",
      "format": "int64"
     },
     "scope": {
      "type": "string"
     },
     "state": {
      "type": "string"
     },
     "jobId": {
      "type": [
       "integer",
       "null"
      ],
      "format": "int64"
     },
     "createdAt": {
      "type": "number"
     },
     "completedAt": {
      "type": [
       "number",
       "null"
      ]
     },
     "bytes": {
      "type": "integer",
      "format": "int64"
     },
     "sourceBytes": {
      "type": "integer",
      "format": "int64"
     },
     "entries": {
      "type": "integer"
     },
     "error": {
      "type": [
       "string",
       "null"
      ]
     },
     "data": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/SnapshotPart"
      }
     },
     "manifest": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/SnapshotPart"
      }
     }
    },
    "required": [
     "id",
     "memberId",
     "memberHostname",
     "accountId",
     "scope",
     "state",
     "createdAt",
     "bytes",
     "sourceBytes",
     "entries",
     "data",
     "manifest"
    ]
   },
   "SnapshotRestoreRequest": {
    "type": "object",
    "properties": {
     "to": {
      "type": [
       "integer",
       "null"
      ],
      "format": "int64",
      "description": "Target member (default: the snapshot's own)."
     },
     "checkMode": {
      "type": [
       "boolean",
       "null"
      ]
     },
     "provision": {
      "type": [
       "boolean",
       "null"
      ]
     }
    }
   },
   "BackupPolicyView": {
    "type": "object",
    "properties": {
     "keepLast": {
      "type": [
       "integer",
       "null"
      ]
     },
     "keepDays": {
      "type": [
       "integer",
       "null"
      ]
     }
    }
   },
   "BackupQuotaView": {
    "type": "object",
    "properties": {
     "quotaBytes": {
      "type": [
       "integer",
       "null"
      ],
      "format": "int64"
     },
     "usedBytes": {
      "type": "integer",
      "format": "int64"
     }
    },
    "required": [
     "usedBytes"
    ]
   },
   "SetBackupQuotaRequest": {
    "type": "object",
    "properties": {
     "quotaBytes": {
      "type": [
       "integer",
       "null"
      ],
      "format": "int64"
     }
    }
   },
   "ThresholdMetric": {
    "type": "string",
    "enum": [
     "cpu",
     "memory",
     "disk",
     "load",
     "heartbeat_age",
     "haproxy_down",
     "tls_expiry"
    ]
   },
   "ThresholdSetting": {
    "type": "object",
    "properties": {
     "metric": {
      "$ref": "#/components/schemas/ThresholdMetric"
     },
     "raiseAt": {
      "type": "number"
     },
     "clearAt": {
      "type": "number"
     },
     "enabled": {
      "type": "boolean"
     }
    },
    "required": [
     "metric",
     "raiseAt",
     "clearAt",
     "enabled"
    ]
   },
   "SetThresholdRequest": {
    "type": "object",
    "properties": {
     "raiseAt": {
      "type": "number"
     },
     "clearAt": {
      "type": [
       "number",
       "null"
      ]
     },
     "enabled": {
      "type": [
       "boolean",
       "null"
      ]
     }
    },
    "required": [
     "raiseAt"
    ]
   },
   "EffectiveThreshold": {
    "type": "object",
    "properties": {
     "setting": {
      "$ref": "#/components/schemas/ThresholdSetting"
     },
     "source": {
      "type": "string"
     }
    },
    "required": [
     "setting",
     "source"
    ]
   },
   "ThresholdsView": {
    "type": "object",
    "properties": {
     "own": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/ThresholdSetting"
      }
     },
     "effective": {
      "type": [
       "array",
       "null"
      ],
      "items": {
       "$ref": "#/components/schemas/EffectiveThreshold"
      }
     }
    },
    "required": [
     "own"
    ]
   },
   "ThresholdAlertView": {
    "type": "object",
    "properties": {
     "memberId": {
      "type": "integer",
      "format": "int64"
     },
     "hostname": {
      "type": "string"
     },
     "poolId": {
      "type": "integer",
      "format": "int64"
     },
     "metric": {
      "$ref": "#/components/schemas/ThresholdMetric"
     },
     "subject": {
      "type": "string"
     },
     "state": {
      "type": "string"
     },
     "value": {
      "type": "number"
     },
     "raiseAt": {
      "type": "number"
     },
     "clearAt": {
      "type": "number"
     },
     "at": {
      "type": "number"
     }
    },
    "required": [
     "memberId",
     "hostname",
     "poolId",
     "metric",
     "subject",
     "state",
     "value",
     "raiseAt",
     "clearAt",
     "at"
    ]
   },
   "AlertsView": {
    "type": "object",
    "properties": {
     "firing": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/ThresholdAlertView"
      }
     },
     "history": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/ThresholdAlertView"
      }
     }
    },
    "required": [
     "firing",
     "history"
    ]
   },
   "ClaimedJob": {
    "type": "object",
    "properties": {
     "id": {
      "type": "integer",
      "format": "int64"
     },
     "command": {
      "type": "string"
     },
     "params": {
      "description": "Any JSON value."
     },
     "attempt": {
      "type": "integer"
     },
     "leaseSec": {
      "type": "integer"
     },
     "timeoutSec": {
      "type": "integer"
     },
     "checkMode": {
      "type": "boolean"
     }
    },
    "required": [
     "id",
     "command",
     "params",
     "attempt",
     "leaseSec",
     "timeoutSec",
     "checkMode"
    ]
   },
   "HeartbeatReply": {
    "type": "object",
    "properties": {
     "heartbeatIntervalSec": {
      "type": "integer"
     },
     "serverTime": {
      "type": "number"
     },
     "jobs": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/ClaimedJob"
      }
     },
     "cancelJobs": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/JobRef"
      }
     },
     "latestAgentVersion": {
      "type": [
       "string",
       "null"
      ]
     }
    },
    "required": [
     "heartbeatIntervalSec",
     "serverTime",
     "jobs",
     "cancelJobs"
    ]
   },
   "JobProgress": {
    "type": "object",
    "properties": {
     "jobId": {
      "type": "integer",
      "format": "int64"
     },
     "attempt": {
      "type": "integer"
     },
     "message": {
      "type": [
       "string",
       "null"
      ]
     },
     "percent": {
      "type": [
       "number",
       "null"
      ]
     }
    },
    "required": [
     "jobId",
     "attempt"
    ]
   },
   "JobCompletion": {
    "type": "object",
    "properties": {
     "jobId": {
      "type": "integer",
      "format": "int64"
     },
     "attempt": {
      "type": "integer"
     },
     "status": {
      "type": "string",
      "enum": [
       "completed",
       "failed",
       "cancelled",
       "interrupted"
      ]
     },
     "exitCode": {
      "type": [
       "integer",
       "null"
      ]
     },
     "output": {
      "type": "string"
     },
     "result": {
      "anyOf": [
       {
        "description": "Any JSON value."
       },
       {
        "type": "null"
       }
      ]
     },
     "changed": {
      "type": [
       "boolean",
       "null"
      ]
     },
     "error": {
      "type": [
       "string",
       "null"
      ]
     },
     "startedAt": {
      "type": [
       "number",
       "null"
      ]
     },
     "finishedAt": {
      "type": [
       "number",
       "null"
      ]
     }
    },
    "required": [
     "jobId",
     "attempt",
     "status",
     "output"
    ]
   },
   "AgentBundleManifest": {
    "type": "object",
    "properties": {
     "format": {
      "type": "integer"
     },
     "version": {
      "type": "string"
     },
     "minAgentVersion": {
      "type": [
       "string",
       "null"
      ]
     },
     "notAfter": {
      "type": "string"
     },
     "created": {
      "type": "string"
     },
     "files": {
      "type": "array",
      "items": {
       "type": "object",
       "properties": {
        "name": {
         "type": "string"
        },
        "size": {
         "type": "integer",
         "format": "int64"
        },
        "sha256": {
         "type": "string"
        },
        "mode": {
         "type": "string"
        }
       },
       "required": [
        "name",
        "size",
        "sha256",
        "mode"
       ]
      }
     }
    },
    "required": [
     "format",
     "version",
     "notAfter",
     "created",
     "files"
    ]
   }
  },
  "responses": {
   "E400": {
    "description": "Malformed request: a path id that is not a number, a body that is not the JSON this route takes, or a value it refuses.",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "E401": {
    "description": "Missing or unknown credentials.",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "E403": {
    "description": "Authenticated, but not allowed.",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "E404": {
    "description": "No such route or resource (or not this account's).",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "E409": {
    "description": "Conflicts with the current state.",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "E413": {
    "description": "Request body too large.",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "E503": {
    "description": "A service this route needs is unavailable.",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "E507": {
    "description": "Backup quota exceeded.",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   }
  },
  "securitySchemes": {
   "operatorToken": {
    "type": "http",
    "scheme": "bearer",
    "description": "An API token (`bct_…`): `balctl-server init` prints the admin's; POST /api/v1/tokens makes more."
   },
   "agentSecret": {
    "type": "http",
    "scheme": "bearer",
    "description": "A member's enrollment secret (48 hex digits), from an allowed source IP."
   },
   "metricsToken": {
    "type": "http",
    "scheme": "bearer",
    "description": "The scrape token (`--metrics-token-file`); a source address in `--metrics-allow` needs none."
   }
  }
 }
}
"""#
}

